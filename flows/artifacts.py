"""What a run shows in the Prefect UI: summary, first rejects, progress, articles per day."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, cast
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


def artifact_key(fallback: str) -> str:
    """The key prefix of a run's artifacts. In a deployment's run, the flow's and the
    deployment's names, so that one key's history is that schedule's history whatever its
    parameters say; elsewhere ``fallback``, named after what the run works on."""
    from prefect.runtime import deployment, flow_run

    if deployment.name:
        return _key(f"{flow_run.flow_name}-{deployment.name}")
    return _key(fallback)


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
    """The summary table's rows: measures in a fixed order, then rejects by reason."""
    order = (*SUMMARY_MEASURES, "batches", "task_runs")
    rows = [{"measure": "WARNING", "value": summary["warning"]}] if summary.get("warning") else []
    rows += [{"measure": k, "value": summary[k]} for k in order if k in summary]
    if summary.get("resumed"):
        rows.append({"measure": "resumed (from a killed run)", "value": summary["resumed"]})
    rows += [
        {"measure": f"rejected: {k}", "value": v}
        for k, v in sorted(summary.get("reasons", {}).items())
    ]
    return rows


def publish_summary(summary: dict[str, Any], name: str) -> None:
    """Publish the run's summary table as a Prefect artifact."""
    create_table_artifact(
        summary_rows(summary),
        key=f"{artifact_key(name)}-summary",
        description=f"Ingest summary: {summary['inputs']} inputs = {summary['reconciliation']}",
    )


def publish_rejects(rejects: Sequence[tuple[str, str, str]], name: str) -> None:
    """Publish the first rejected inputs with their reasons (or say there were none)."""
    key, description = f"{artifact_key(name)}-rejects", "First rejected inputs with their reasons"
    if not rejects:
        create_markdown_artifact("No rejects in this run.", key=key, description=description)
        return
    rows = [{"source": s, "reason": r, "detail": d} for s, r, d in rejects]
    create_table_artifact(rows, key=key, description=description)


MAX_BARS = 30
BAR_WIDTH = 30


def _bucket(day: date, unit: str) -> str:
    if unit == "week":
        return (day - timedelta(days=day.weekday())).isoformat()  # its Monday
    if unit == "month":
        return f"{day:%Y-%m}"
    return day.isoformat()


def bucket_counts(per_day: Sequence[tuple[date, int]]) -> tuple[str, list[tuple[str, int]]]:
    """Articles per day, week or month: the finest unit with at most MAX_BARS bars whose
    counts differ, so the chart shows a shape (one article a day makes every daily bar full)."""
    grouped: dict[str, list[tuple[str, int]]] = {}
    for unit in ("day", "week", "month"):
        totals: dict[str, int] = {}
        for day, n in per_day:
            label = _bucket(day, unit)
            totals[label] = totals.get(label, 0) + n
        grouped[unit] = sorted(totals.items())
    for unit, bars in grouped.items():
        if len(bars) <= MAX_BARS and len({n for _, n in bars}) >= 2:
            return unit, bars
    for unit, bars in grouped.items():  # no unit fits: the latest bars of the finest that varies
        if len({n for _, n in bars[-MAX_BARS:]}) >= 2:
            return unit, bars[-MAX_BARS:]
    unit = next(u for u, bars in grouped.items() if len(bars) <= MAX_BARS or u == "month")
    return unit, grouped[unit][-MAX_BARS:]


def per_day_markdown(per_day: Sequence[tuple[date, int]]) -> str:
    """A text bar chart: the shape of the loaded data without writing SQL."""
    if not per_day:
        return "### Articles per day\n\n_No dated articles in this warehouse yet._"
    unit, bars = bucket_counts(per_day)
    peak = max(n for _, n in bars) or 1
    lines = [
        f"| {label} | {n} | {'█' * max(1, round(BAR_WIDTH * n / peak))} |" for label, n in bars
    ]
    first = {"day": "day (UTC)", "week": "week of (UTC, Monday)", "month": "month (UTC)"}[unit]
    header = f"| {first} | articles | bar (full = {peak}) |\n|---|---:|---|\n"
    return f"### Articles per {unit}\n\n" + header + "\n".join(lines)


def publish_per_day(per_day: Sequence[tuple[date, int]], name: str) -> None:
    """Publish the warehouse's articles by publication date as a Markdown artifact."""
    create_markdown_artifact(
        per_day_markdown(per_day),
        key=f"{artifact_key(name)}-per-day",
        description="Articles by publication date in the warehouse, per day, week or month",
    )


class ProgressArtifact:
    """The run's progress in the UI, updated as batches finish."""

    def __init__(self, name: str) -> None:
        self.key = f"{artifact_key(name)}-progress"
        self.id: UUID | None = None  # created by the first update, off the first batch's path
        self._last = 0.0
        self._at = time.monotonic()

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` items transformed, at most every 5 % or 5 s."""
        pct = min(100.0 * done / total if total else 100.0, 100.0)
        # Each update is an API call, which the server records too: at most one per 5 % and
        # per 5 s, and always the final 100 % (a run of seconds shows its end, not each batch).
        due = pct - self._last >= 5.0 and time.monotonic() - self._at >= 5.0
        if not ((due and pct > self._last) or (pct >= 100.0 > self._last)):
            return
        if self.id is None:
            # Typed as maybe a coroutine: Prefect returns one only to async callers.
            self.id = cast(
                UUID,
                create_progress_artifact(pct, key=self.key, description="Items transformed so far"),
            )
        else:
            update_progress_artifact(self.id, pct)
        self._last, self._at = pct, time.monotonic()
