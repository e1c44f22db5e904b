"""The ``symback`` command line: one subcommand per job, exit 0 / 1 / 2.

0 success, 1 a check that failed, 2 bad input (one line on stderr saying
what and where, never a traceback). Every command takes ``--json`` and
``--timeout SECONDS``. Whatever goes wrong, the user sees one line of at most
`MAX_MESSAGE` characters, the input abbreviated, never echoed whole.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager

from .check.fd import whole

# the command modules register their commands on import, in --help order
from .commands import COMMANDS, grad, network, check, grade, codegen, gradcheck, teach  # noqa: F401  # isort: skip
from .errors import SymbackError
from .parse import point_length


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors are bad input too: exit 2, one line
        self.print_usage(sys.stderr)
        # "derive: ..." for a command's usage errors; the top level's own need no prefix ("symback: error: symback:")
        raise SystemExit(_fail(f"{self.prog.removeprefix('symback ')}: {message}".removeprefix("symback: ")))


#: the longest error line; a longer message keeps its start and end
MAX_MESSAGE = 300
#: seconds a command may run before it is stopped (``--timeout``); generous, so only a runaway input meets it
DEFAULT_TIMEOUT = 600.0
#: the longest timer the platform sets (about three years); a longer --timeout waits this long, which is the same
MAX_TIMER = 1e8


def abbreviate(text: str, limit: int = MAX_MESSAGE) -> str:
    """One line of at most `limit` characters: newlines folded, the middle elided."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[-keep:]}"


def _fail(message: str) -> int:
    print(abbreviate(f"symback: error: {message}"), file=sys.stderr)
    return 2


class _TimedOut(BaseException):
    """Raised by the alarm; a BaseException, so no `except Exception` on the way up can swallow it."""


def _stop(signum, frame):
    raise _TimedOut


@contextmanager
def _time_limit(seconds: float):
    """Stop the command after `seconds` (SIGALRM; only where the platform and thread allow it)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, MAX_TIMER))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symback", description="Backpropagation you can read, check and run fast.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop after this many seconds (default {DEFAULT_TIMEOUT:g})")
        for flags, options in arguments:
            p.add_argument(*flags, **options)
        p.set_defaults(_run=run)
    parser.subcommands = sub.choices
    return parser


def _leading_minus(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """An expression such as ``-x*y`` is an argument, not an unknown option: argparse is told by a space."""
    sub = parser.subcommands.get(argv[0]) if argv else None
    if sub is None:
        return argv
    options, out = sub._option_string_actions, argv[:1]
    for arg in argv[1:]:
        takes_value = out[-1] in options and options[out[-1]].nargs != 0
        if arg.startswith("-") and not arg.startswith("--") and arg not in options and len(arg) > 1 and not takes_value:
            arg = " " + arg  # the parsers strip it
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _leading_minus(parser, list(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command whose options these are not, and show its usage
        (parser.subcommands.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    try:
        with _time_limit(args.timeout):
            if getattr(args, "seed", None) is not None:  # every --seed: NumPy refuses a negative one with a traceback
                whole(args.seed, "--seed")
            if isinstance(getattr(args, "at", None), str):  # refused on its length before the expression is read
                point_length(args.at)
            return args._run(args) or 0
    except SymbackError as exc:
        return _fail(str(exc))
    except _TimedOut:
        return _fail(f"{args.command} took longer than {args.timeout:g} s and was stopped; "
                     "simplify the input, or allow more time with --timeout SECONDS")
    except RecursionError:
        return _fail("the expression is nested too deeply for this output; use the Python API or omit --expand")
    except MemoryError:
        return _fail(f"{args.command} ran out of memory; the input is too large")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file that cannot be read or written: say which, in one line
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(f"{args.command}: cannot use{where}: {exc.strerror or exc}")
    except SystemExit:  # a usage error already printed its line
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in symback, not the input: still one line, never a traceback
        why = ("a value is infinite (beyond float64), which JSON cannot hold" if "not JSON compliant" in str(exc)
               else "a number has more than 4,300 digits, too many to print" if "integer string" in str(exc)
               else f"a number grew too large to compute ({abbreviate(exc, 60)})" if isinstance(exc, OverflowError)
               else f"the input divides by zero ({abbreviate(exc, 60)})" if isinstance(exc, ZeroDivisionError)
               else None)  # Python's and JSON's limits on numbers, a zero divisor: the input, not a bug
        if why:
            return _fail(f"{args.command}: {why}; use other values")
        return _fail(f"{args.command}: internal error ({type(exc).__name__}: {exc}); "
                     "please report it with the command that caused it")
    except BaseException as exc:  # noqa: BLE001 - e.g. a SPEC raising its own BaseException subclass
        return _fail(f"{args.command}: stopped by {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
