"""The exceptions that reach the user as a one-line message and an exit code."""

import sqlite3


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


TOO_LARGE = ("the amounts are too large: a ledger total would exceed the range of whole cents "
             "(92,233,720,368,547,758.07)")


def is_int64_overflow(exc: BaseException) -> bool:
    """Whether SQLite refused a write because a total left the range of 64-bit integers.

    SQLite reports it two ways: ``sum()`` raises "integer overflow"; ``a + b`` silently turns
    into a REAL, which a STRICT INTEGER column (an entry's amount, a pre-aggregate's running
    total kept by a trigger) then refuses with "cannot store REAL value in INTEGER column".
    Python's own ``OverflowError`` (binding an int beyond 64 bits) counts too."""
    if isinstance(exc, OverflowError):
        return True
    msg = str(exc)
    return ((isinstance(exc, sqlite3.OperationalError) and "integer overflow" in msg)
            or (isinstance(exc, sqlite3.IntegrityError)
                and "cannot store REAL value in INTEGER column" in msg))
