"""The one exception base for mistakes a user can fix, and the exit codes the CLI maps them to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_SWEEP_FAILED = 1
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input: a config file, a key, a path or a data file the user must correct.

    Args:
        message: what was expected, what was found, and how to fix it.
        source: the file (or other input) the mistake is in, if there is one.
        key: the dotted key inside that file, if there is one.

    The CLI prints `str(error)` and exits with code 2; nothing else catches it.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.message = message
        self.source = source
        self.key = key
        super().__init__(self.format())

    def format(self) -> str:
        prefix = ""
        if self.source:
            prefix += f"{self.source}: "
        if self.key:
            prefix += f"{self.key}: "
        return prefix + self.message


class SweepFailed(Exception):
    """A sweep that started but could not finish (for example too many failed trials in a row)."""
