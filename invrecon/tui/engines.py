"""Access to the engine modules from the TUI, plus the connection factory for workers.

The engines are plain domain modules (no Textual). They are imported lazily so the app can say
"not available" for an engine that is not installed instead of failing to start.
Every worker opens its own connection with :func:`connect` (SQLite objects are per thread).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from sqlite_utils import Database

from invrecon.ledger import open_ledger


class EngineMissing(RuntimeError):
    """The engine module a screen needs is not part of this installation."""


def engine(name: str) -> ModuleType:
    """``invrecon.<name>``; raises EngineMissing when that module does not exist."""
    full = f"invrecon.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:
            raise EngineMissing(f"{name}: not available in this installation") from None
        raise


def has_engine(name: str) -> bool:
    try:
        engine(name)
    except EngineMissing:
        return False
    return True


@contextlib.contextmanager
def connect(path: Path, *, readonly: bool) -> Iterator[Database]:
    """A connection for one worker run, closed at the end."""
    db = open_ledger(path, readonly=readonly)
    try:
        yield db
    finally:
        db.close()
