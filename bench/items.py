"""Archived items, the seed's own format: the pipeline beside a bare pool of its own transform.

    .venv/bin/python -m bench.items --n 20000 [--rounds 2] [--stages bare,pipeline,embedded]
                                    [--server default|lean] [--idle 60] [--workdir DIR]

N generated archived items (``<!--EPOCH_MS-->``, ``[Title](URL)``, ``------``, an HTML body;
bench/corpus.py's ``generated_item``), cached in the workdir keyed by N. Stages, each a
subprocess timed by wall clock, with the CPU seconds of its whole process tree and of the
Prefect server while it ran (bench/run.py's ``measure``):
  bare      python -m bench.limit --transform: the pipeline's own ``transform_unit`` per item
            in a bare spawn pool over all cores, no Prefect, staging or DuckDB
  pipeline  article-etl ingest CORPUS against a running ``prefect server start``
  embedded  the same ingest without PREFECT_API_URL: Prefect's temporary server, started
            and stopped inside the run (its CPU is in the run's process tree)
  floor     a trivial flow with one task against the server, and embedded: Prefect's own
            fixed cost of a run, what the pipeline's is read against
Stages alternate round by round (ABBA between bare and pipeline), each pipeline into a new
warehouse. ``--idle S`` first measures the server's CPU over S idle seconds, with Prefect's
default configuration and with the one the README documents (``LEAN_SERVER_ENV``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import psutil

from bench.corpus import CORPUS_VERSION, FILES_PER_DIR, generated_item
from bench.run import BIN, REPO, Stage, _cpu_of, _kill_group, _start_server, _summary, measure

DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "article-etl-bench-items"

# The server configuration the README's operations section documents: the services a
# deployment of this project uses stay on (scheduler, late runs, task-run recorder, event
# persister for the UI's run graph), the ones it never uses are off.
LEAN_SERVER_ENV: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # no automations, no paused runs: nothing for these to do
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
    # the UI's event feed only: runs, task runs, logs and artifacts are recorded without it
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    # housekeeping loops that poll the database every 5 s by default
    "PREFECT_SERVER_SERVICES_CLEANUP_RECONCILER_LOOP_SECONDS": "60",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "30",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "15",
}


def build_items(dest: Path, n: int) -> Path:
    """N archived items in folders of FILES_PER_DIR (built aside, then renamed into place)."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(n):
        path = tmp / f"{i // FILES_PER_DIR:04d}" / f"{i:06d}-item.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(generated_item(i))
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.rename(dest)
    return dest


def idle_cpu(run_dir: Path, env: dict[str, str], seconds: float, label: str) -> float:
    """CPU seconds a freshly started server spends over ``seconds`` of idling (after a
    10 s settle, so start-up is not counted)."""
    home = run_dir / f"idle-{label}"
    home.mkdir()
    server = _start_server(home, env)
    try:
        time.sleep(10)
        proc = psutil.Process(server[0].pid)
        before = _cpu_of(proc)
        time.sleep(seconds)
        return _cpu_of(proc) - before
    finally:
        _kill_group(server[0].pid)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="archived items")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stages", default="bare,pipeline,embedded,floor")
    parser.add_argument(
        "--server",
        choices=("default", "lean"),
        default="lean",
        help="the server's configuration: Prefect's defaults or the README's (default)",
    )
    parser.add_argument("--idle", type=float, default=0, help="idle seconds to measure first")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    wanted = set(args.stages.split(","))
    cores = os.cpu_count() or 1

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir.resolve() / f"items-v{CORPUS_VERSION}-n{args.n}"
    if not corpus.is_dir():
        t = time.perf_counter()
        build_items(corpus, args.n)
        print(f"items: {corpus} (built in {time.perf_counter() - t:.1f} s)")
    started = datetime.now(UTC)
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{started:%Y%m%dT%H%M%S}-", dir=args.workdir))
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    lean_env = {**env, **LEAN_SERVER_ENV}

    idle: dict[str, float] = {}
    if args.idle:
        for label, config in (("default", env), ("lean", lean_env)):
            idle[label] = idle_cpu(run_dir, config, args.idle, label)
            print(f"idle server ({label}): {idle[label]:.2f} CPU s in {args.idle:.0f} s")

    cli = str(BIN / "article-etl")
    bare = [sys.executable, "-m", "bench.limit", str(corpus), "--workers", str(cores)]
    bare += ["--transform"]
    floor = [sys.executable, "-m", "bench.floor"]
    server_env = lean_env if args.server == "lean" else env
    server = _start_server(run_dir, server_env) if wanted & {"pipeline", "floor"} else None
    # The embedded runs keep one Prefect home, as a user's laptop does (the first run's
    # database creation is a one-off, not a run's cost): warmed by one floor run, untimed.
    # Their temporary server reads the same configuration as the running one.
    embedded_env = {**server_env, "PREFECT_HOME": str(run_dir / "embedded-home")}
    if "embedded" in wanted:
        subprocess.run(floor, env=embedded_env, cwd=run_dir, capture_output=True, check=False)

    order: list[tuple[str, list[str]]] = []
    for r in range(1, args.rounds + 1):
        wh = str(run_dir / f"warehouse-{r}")
        emb = str(run_dir / f"embedded-{r}")
        pair = [
            (f"bare.{r}", bare),
            (f"pipeline.{r}", [cli, "ingest", str(corpus), "--warehouse", wh, "--json"]),
        ]
        order += pair if r % 2 else pair[::-1]  # ABBA: a drifting machine favours neither
        order += [(f"embedded.{r}", [cli, "ingest", str(corpus), "--warehouse", emb, "--json"])]
        order += [(f"floor.{r}", floor), (f"floorembedded.{r}", floor)]
    stages: dict[str, Stage] = {}
    try:
        for name, cmd in order:
            kind = name.split(".")[0]
            if kind.replace("floorembedded", "floor") not in wanted:
                continue
            if kind == "floorembedded" and "embedded" not in wanted:
                continue
            stage = Stage(name, cmd, kind)
            stage_env = dict(embedded_env if kind in ("embedded", "floorembedded") else env)
            if server and kind in ("pipeline", "floor"):
                stage_env["PREFECT_API_URL"] = server[1]
            watched = psutil.Process(server[0].pid) if server else None
            print(f"\n== {name}: {' '.join(cmd)}", flush=True)
            measure(stage, run_dir / f"{name}.log", 600 + args.n / 5, stage_env, run_dir, watched)
            if kind in ("pipeline", "embedded") and stage.ok:
                summary = _summary(stage.log) or {}
                work = float(summary.get("seconds", 0.0))  # type: ignore[arg-type]
                stage.fixed_s = stage.wall - work
                stage.extra = {k: summary.get(k) for k in ("inputs", "new", "rejected", "batches")}
            stages[name] = stage
            # Each stage's figures as it ends: a run cut short still says what it measured.
            print(
                f"  {'ok' if stage.ok else 'FAILED'}: {stage.wall:.1f} s, CPU {stage.cpu:.1f} s, "
                f"server CPU {stage.server_cpu:.1f} s {stage.note}",
                flush=True,
            )
    finally:
        if server:
            _kill_group(server[0].pid)
    report(args, stages, idle, started, cores)
    if args.keep:
        print(f"outputs kept in {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if all(s.ok for s in stages.values()) else 1


def report(
    args: argparse.Namespace,
    stages: dict[str, Stage],
    idle: dict[str, float],
    started: datetime,
    cores: int,
) -> None:
    n = args.n
    print(
        f"\narchived items, N = {n}, {cores} cores, {started:%Y-%m-%d %H:%M} UTC, "
        f"server config: {args.server}"
    )
    print(
        f"{'stage':<16} {'wall s':>8} {'items/s':>8} {'CPU s':>7} {'server CPU s':>12} "
        f"{'fixed s':>8}"
    )
    for st in stages.values():
        rate = (
            f"{n / st.wall:8.0f}"
            if st.ok and st.wall and st.kind in ("bare", "pipeline", "embedded")
            else "       -"
        )
        fixed = f"{st.fixed_s:8.2f}" if st.fixed_s else "       -"
        status = "" if st.ok else f"  FAILED {st.note}"
        print(
            f"{st.name:<16} {st.wall:8.1f} {rate} {st.cpu:7.1f} {st.server_cpu:12.1f} "
            f"{fixed}{status}"
        )
    for kind, floor_kind in (("pipeline", "floor"), ("embedded", "floorembedded")):
        rows = []
        for st in stages.values():
            r = st.name.split(".")[1]
            b, f = stages.get(f"bare.{r}"), stages.get(f"{floor_kind}.{r}")
            if st.kind != kind or not st.ok or b is None or not b.ok:
                continue
            thr = b.wall / st.wall
            cpu = (st.cpu + st.server_cpu) / b.cpu
            line = f"round {r}: throughput {thr:.2f}x, CPU {cpu:.2f}x"
            if f is not None and f.ok:
                line += f", fixed {st.fixed_s:.1f} s vs floor {f.wall:.1f} s"
                line += f", less floor: throughput {b.wall / (st.wall - f.wall):.2f}x"
            rows.append((thr, cpu, line))
        if rows:
            print(
                f"\n{kind} / bare (throughput: bare wall / {kind} wall; CPU: all processes, "
                "server included):"
            )
            for *_, line in rows:
                print("  " + line)
            print(
                f"  median: throughput {median(t for t, _, _ in rows):.2f}x, "
                f"CPU {median(c for _, c, _ in rows):.2f}x"
            )
    for st in stages.values():
        if st.extra:
            print(f"{st.name}: {st.extra}")
    if idle:
        print(
            f"\nidle server CPU over {args.idle:.0f} s: "
            + ", ".join(
                f"{k} {v:.2f} s ({100 * v / args.idle:.1f} % of a core)" for k, v in idle.items()
            )
        )


if __name__ == "__main__":
    sys.exit(main())
