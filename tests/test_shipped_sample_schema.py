"""The shipped sample.db carries exactly the schema (tables, indexes, triggers) a new ledger gets,
so it is regenerated whenever a migration changes (`invrecon --db sample.db sample --force`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from invrecon.ledger import open_ledger

ROOT = Path(__file__).resolve().parent.parent


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return sorted(conn.execute(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


def test_shipped_sample_has_the_current_schema(tmp_path):
    fresh = tmp_path / "fresh.db"
    open_ledger(fresh, create=True).close()
    shipped = _schema(ROOT / "sample.db")
    assert shipped == _schema(fresh), "regenerate: invrecon --db sample.db sample --force"
    assert {t for t, _, _ in shipped} >= {"table", "index", "trigger"}
