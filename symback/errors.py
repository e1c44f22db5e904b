"""One exception type for bad input, so the CLI can turn it into exit code 2.

`SymbackError` subclasses `ValueError` (the contract: bad input raises
`ValueError` in Python); its message is one sentence saying what and where.
"""


class SymbackError(ValueError):
    """Bad input: the message says what is wrong, where, and how to fix it."""
