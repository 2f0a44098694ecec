"""What a run shows in the Prefect UI: summary, first rejects, progress, articles per day."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)


def _key(text: str) -> str:
    # Artifact keys allow lower-case letters, digits and dashes only.
    key = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return key[:60].rstrip("-") or "ingest"


# The run's accounting as the CLI prints it; the summary artifact adds batches and task runs.
SUMMARY_MEASURES = (
    "inputs",
    "new",
    "updated",
    "unchanged",
    "duplicates",
    "rejected",
    "skipped_unchanged",
    "seconds",
    "pages_per_s",
)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    order = (*SUMMARY_MEASURES, "batches", "task_runs")
    rows = [{"measure": k, "value": summary[k]} for k in order if k in summary]
    rows += [
        {"measure": f"rejected: {k}", "value": v}
        for k, v in sorted(summary.get("reasons", {}).items())
    ]
    return rows


def publish_summary(summary: dict[str, Any], name: str) -> None:
    create_table_artifact(
        summary_rows(summary),
        key=f"{_key(name)}-summary",
        description=f"Ingest summary: {summary['inputs']} inputs = {summary['reconciliation']}",
    )


def publish_rejects(rejects: Sequence[tuple[str, str, str]], name: str) -> None:
    rows = [{"source": s, "reason": r, "detail": d} for s, r, d in rejects]
    create_table_artifact(
        rows or [{"source": "", "reason": "", "detail": "no rejects"}],
        key=f"{_key(name)}-rejects",
        description="First rejected inputs with their reasons",
    )


def publish_per_day(per_day: Sequence[tuple[str, int]], name: str) -> None:
    """A text bar chart: the shape of the loaded data without writing SQL."""
    if not per_day:
        text = "_No dated articles in this warehouse yet._"
    else:
        peak = max(n for _, n in per_day) or 1
        lines = [f"| {day} | {n} | {'█' * max(1, round(30 * n / peak))} |" for day, n in per_day]
        text = "| day (UTC) | articles | |\n|---|---:|---|\n" + "\n".join(lines)
    create_markdown_artifact(
        "### Articles per day\n\n" + text,
        key=f"{_key(name)}-per-day",
        description="Articles per publication day in the warehouse (last 60 days with data)",
    )


class ProgressArtifact:
    """The run's progress in the UI, updated as batches finish."""

    def __init__(self, name: str) -> None:
        self.key = f"{_key(name)}-progress"
        self.id: UUID | None = None  # created by the first update, off the first batch's path
        self._last = 0.0
        self._at = time.monotonic()

    def update(self, done: int, total: int) -> None:
        pct = min(100.0 * done / total if total else 100.0, 100.0)
        # Each update is an API call: every 5 % or 5 s at most, and always the final 100 %.
        due = pct - self._last >= 5.0 or time.monotonic() - self._at >= 5.0
        if not ((due and pct > self._last) or (pct >= 100.0 > self._last)):
            return
        if self.id is None:
            self.id = create_progress_artifact(
                pct, key=self.key, description="Items transformed so far"
            )
        else:
            update_progress_artifact(self.id, pct)
        self._last, self._at = pct, time.monotonic()
