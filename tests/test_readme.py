"""Every command in the README runs, and prints what the README shows."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import readme  # noqa: E402

COMMANDS = list(readme.blocks(readme.README.read_text()))


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_output_is_what_the_command_prints(command, shown):
    assert readme.run(command) == shown, f"README is stale for `{command}`: run `make readme`"
