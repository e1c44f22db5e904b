"""The ``symback`` command line: one subcommand per job, exit 0 / 1 / 2.

0 success, 1 a check that failed, 2 bad input (one line on stderr saying
what and where, never a traceback). Every command takes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from .errors import SymbackError

COMMANDS: dict[str, Callable] = {}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors are bad input too: exit 2, one line
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(f"{self.prog}: {message}"))


def _fail(message: str) -> int:
    print(f"symback: error: {message}", file=sys.stderr)
    return 2


def command(name: str, help: str):
    """Register a subcommand: the decorated function adds its arguments and returns its runner."""

    def register(setup):
        COMMANDS[name] = (help, setup)
        return setup

    return register


def emit(args, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


#: Modules under symback/commands/ that register subcommands, in --help order.
COMMAND_MODULES = ("grad", "network", "check", "codegen", "gradcheck", "teach")


def build_parser() -> argparse.ArgumentParser:
    import importlib
    import importlib.util

    for mod in COMMAND_MODULES:
        if importlib.util.find_spec(f"symback.commands.{mod}") is not None:
            importlib.import_module(f"symback.commands.{mod}")
    parser = _Parser(prog="symback", description="Backpropagation you can read, check and run fast.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    runners = {}
    for name, (help_text, setup) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        runners[name] = setup(p)
    parser.set_defaults(_runners=runners)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args._runners[args.command](args)
    except SymbackError as exc:
        return _fail(str(exc))
    except RecursionError:
        return _fail("the expression is nested too deeply for this output; use the Python API or omit --expand")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
