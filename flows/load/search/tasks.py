"""The search as a Prefect task, for flows that look articles up (a thin wrapper)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.core.settings import DEFAULT_WAREHOUSE
from flows.load.search.index import SearchIndexError
from flows.load.search.query import search
from flows.load.warehouse import WarehouseBusy


def _may_pass(task: object, task_run: object, state: Any) -> bool:
    """Retry a busy database or an index being written, never a bad query."""
    try:
        state.result()
    except (WarehouseBusy, SearchIndexError, OSError):
        return True
    except Exception:
        return False
    return False


@task(
    name="search-articles",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=_may_pass,
)
def search_articles(
    query: str,
    warehouse: str = str(DEFAULT_WAREHOUSE),
    limit: int = 10,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    host: str | None = None,
) -> list[dict[str, Any]]:
    """Articles ranked by relevance to ``query``: url, timestamp, title, score, snippet."""
    hits = search(Path(warehouse), query, limit, since, until, host)
    return [hit.record() for hit in hits]
