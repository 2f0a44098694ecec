"""Prefect's own floor: a trivial flow with one task, the least any flow run costs.

    PREFECT_API_URL=... python -m bench.floor

The benchmark runs it against the same server as the pipeline, so the pipeline's fixed
start-up can be compared with what Prefect itself takes.
"""

from __future__ import annotations

from prefect import flow, task


@task
def one() -> int:
    return 1


@flow(name="bench-floor")
def floor() -> int:
    return one()


if __name__ == "__main__":
    floor()
