from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ledger_builder import LedgerBuilder  # noqa: E402

from invrecon.ledger import open_ledger  # noqa: E402


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def db(db_path: Path):
    database = open_ledger(db_path, create=True)
    yield database
    database.close()


@pytest.fixture
def builder(db) -> LedgerBuilder:
    return LedgerBuilder.standard(db)
