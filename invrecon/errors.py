"""The exceptions that reach the user as a one-line message and an exit code."""


class InvreconError(Exception):
    """A problem the user can act on. The CLI prints the message on one line and exits 1."""

    exit_code = 1


class LedgerFileError(InvreconError):
    """The file is not a usable invrecon ledger (missing, foreign, newer schema, read-only)."""


class LedgerBusyError(InvreconError):
    """Another process holds the ledger's write lock for longer than we are willing to wait."""


class InputError(InvreconError):
    """Bad input: CSV, journal lines, filters. The message names file, row and column."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]
