"""Every command in the README runs, and prints what the README shows."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import readme  # noqa: E402

COMMANDS = list(readme.blocks(readme.README.read_text()))
#: run as a process of their own too: a plain run, and one that fails (its message on stderr, exit status 2)
OWN_PROCESS = [COMMANDS[0][0], 'symback grad "log(x)" --at x=-1']


@pytest.fixture(scope="module")
def printed():
    """Each command's output (tools/readme.py `run_all`: one Python imports symback, a forked child per command)."""
    commands = [c for c, _ in COMMANDS]
    return dict(zip(commands, readme.run_all(commands), strict=True))


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_output_is_what_the_command_prints(command, shown, printed):
    assert printed[command] == shown, f"README is stale for `{command}`: run `make readme`"


@pytest.mark.parametrize("command", OWN_PROCESS)
def test_a_forked_child_prints_what_a_process_of_its_own_prints(command, printed):
    assert command in printed
    assert readme.run(command) == printed[command]
