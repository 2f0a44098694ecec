"""What earlier runs saw, asked of DuckDB for the inputs a run discovers: a run's cost
follows its own inputs, not the size of the warehouse.

Discovery streams; its candidates are looked up in chunks (flows.extract.discover.chunked
says how large), each one question answered from source_state's primary-key index; every
HTTP validator is a point lookup on http_validators' key as its URL is about to be fetched.

The connection is read-only and held only while discovery runs: other readers may open the
file meanwhile, and it is closed before the load opens the file to write (DuckDB refuses a
second configuration of one file in one process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from flows import __version__
from flows.core.sqlfiles import sql
from flows.extract.web.options import Validator
from flows.load.warehouse import INTERNAL_ERROR_ATTEMPTS, connect


class Known:
    """Looks up the stored fingerprints (source_state) and HTTP validators of a run's inputs.

    Thread-safe: the web crawl asks for validators from its own thread."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        # Answers discovery got for units it passes on, so the router does not ask again;
        # each is taken once, which keeps this as small as a chunk.
        self._answered: dict[str, str | None] = {}
        self.validators = _Validators(self)
        self.queries = 0  # how many questions the run asked, and the seconds they took
        self.seconds = 0.0
        self._closed = False

    def rows(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._closed:  # the load may hold the file: never open it again
                raise RuntimeError("the run's discovery is over: nothing more to look up")
            if self._con is None:
                self._con = connect(self.warehouse, read_only=True)
            self.queries += 1
            started = time.perf_counter()
            try:
                return self._con.execute(sql(name), params).fetchall()
            finally:
                self.seconds += time.perf_counter() - started

    def _remembered(self) -> dict[str, Any]:
        return {"max_attempts": INTERNAL_ERROR_ATTEMPTS, "version": __version__}

    def get(self, source: str, /) -> str | None:
        """The fingerprint earlier runs remember as done for ``source``, or None."""
        return self.fingerprints([source]).get(source)

    def fingerprints(self, sources: Sequence[str]) -> dict[str, str]:
        """The fingerprints earlier runs remember as done, for those of ``sources`` they know."""
        found: dict[str, str] = {}
        ask: list[str] = []
        for source in dict.fromkeys(sources):
            if source in self._answered:
                state = self._answered.pop(source)
                if state is not None:
                    found[source] = state
            else:
                ask.append(source)
        if ask:
            params = {"sources": ask, **self._remembered()}
            found.update(self.rows("warehouse/known_fingerprints.sql", params))
        return found

    def remember(self, source: str, state: str | None) -> None:
        """Keep an answer for the one later question about ``source`` (the router's)."""
        self._answered[source] = state

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._con is not None:
                self._con.close()
                self._con = None
        self._answered.clear()


def known_fingerprints(warehouse: Path, sources: Sequence[str]) -> dict[str, str]:
    """What a run would find remembered as done for ``sources``: one question, then closed."""
    known = Known(warehouse)
    try:
        return known.fingerprints(sources)
    finally:
        known.close()


class _Validators:
    """The HTTP validators of the URLs a run fetches, looked up as each is about to be."""

    def __init__(self, known: Known) -> None:
        self._known = known

    def get(self, url: str, /) -> Validator | None:
        rows = self._known.rows("warehouse/known_validator.sql", {"url": url})
        return Validator(*rows[0]) if rows else None
