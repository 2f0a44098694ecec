"""SQL lives in sql/ as one object per file; this module finds and reads it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # flows/, from flows/core/
# A checkout (editable install) reads the repository's sql/; a wheel carries the same files as
# flows/sql (setup.py maps them there).
SQL_DIR = _PACKAGE / "sql" if (_PACKAGE / "sql").is_dir() else _PACKAGE.parent / "sql"


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>`` (e.g. ``load/decide.sql``)."""
    return (SQL_DIR / name).read_text(encoding="utf-8")


def files(folder: str) -> list[Path]:
    return sorted((SQL_DIR / folder).glob("*.sql"))
