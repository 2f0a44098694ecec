"""The benchmark: the pipeline beside its limit and a peer tool, in one run, on the same files.

    .venv/bin/python -m bench.run --n 10000 [--rounds 3] [--workdir DIR] [--keep] [--quality]

Stages, each a subprocess timed by wall clock with the peak RSS of its whole process tree
(sampled every 0.1 s):
  limit    python -m bench.limit: the pipeline's trafilatura call in a spawn pool, all cores
  bare     python -m bench.limit --transform: the pipeline's own per-input function
           (transform_unit) in the same bare pool, without Prefect, staging or DuckDB
  side     bare with --side-off: the transform without its side columns (article_meta's
           language and byline, the story signature), so that bare / side is their whole cost
  trafmeta python -m bench.limit --with-metadata: trafilatura's own bare_extraction with
           metadata (default settings) in the same pool, the throughput target's yardstick
  pipeline article-etl ingest CORPUS --warehouse WH, end to end with start-up
  peer     the trafilatura command line (--json --with-metadata --parallel CORES) on plain HTML
  second   the same ingest again on the unchanged corpus into the same warehouse, right
           after each pipeline round
  floor    python -m bench.floor: a trivial @flow with one @task, Prefect's own fixed cost,
           against the same server as the pipeline
  cold     (optional) the first ingest without a Prefect server: ephemeral mode, as a user's
           first `article-etl ingest` on a laptop
With --server (the default) a `prefect server start` runs for the whole benchmark and the
pipeline and floor stages use it, as scheduled deployments do. A run's fixed cost is its wall
time less the work inside the flow (the summary's `seconds`): process start, imports, the
flow run's API calls, and exit.
Limit, pipeline, second and floor run --rounds times, alternating; ratios use each one's best
round.
The corpus (and its plain-HTML sibling for the peer) is cached in the workdir, keyed by N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from statistics import median

import psutil

from bench import SHARED
from bench.corpus import (
    CORPUS_VERSION,
    build_corpus,
    build_plain_copy,
    corpus_files,
    parse_zyte_name,
    zyte_url,
)
from bench.score import Score, score, zyte_pages

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's console scripts live beside its python
SAMPLE_S = 0.1
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "article-etl-bench"


@dataclass
class Stage:
    name: str
    cmd: list[str]
    kind: str = ""  # limit, pipeline, peer, second, floor or cold; name adds the round (limit.1)
    ok: bool = False
    wall: float = 0.0
    peak_rss: int = 0
    returncode: int | None = None
    note: str = ""
    log: Path | None = None
    launched: float = 0.0  # epoch seconds when the process was started
    ended: float = 0.0  # epoch seconds when the process exited
    fixed_s: float = 0.0  # a pipeline run's wall time less the work inside its flow
    cpu: float = 0.0  # user + system seconds of the stage's whole process tree
    server_cpu: float = 0.0  # ... and of the Prefect server while the stage ran
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = self.kind or self.name


def _tree(root: psutil.Process, seen: dict[int, psutil.Process]) -> int:
    """Sum of RSS over ``root``, its descendants and earlier-seen descendants still alive."""
    try:
        for p in [root, *root.children(recursive=True)]:
            seen.setdefault(p.pid, p)
    except psutil.Error:
        pass
    total = 0
    for pid, p in list(seen.items()):
        try:
            if not p.is_running():
                raise psutil.NoSuchProcess(pid)
            total += p.memory_info().rss
        except psutil.Error:
            del seen[pid]
    return total


def _cpu_of(process: psutil.Process | None) -> float:
    """User + system seconds of a running process and its children (0 if gone)."""
    if process is None:
        return 0.0
    try:
        times = [p.cpu_times() for p in [process, *process.children(recursive=True)]]
    except psutil.Error:
        return 0.0
    return sum(t.user + t.system for t in times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    stage: Stage,
    log: Path,
    timeout: float,
    env: dict[str, str],
    cwd: Path,
    server: psutil.Process | None = None,
) -> Stage:
    """Run ``stage.cmd``; record wall time, exit code, the peak RSS of its process tree and
    the CPU time of the tree (every descendant is waited for by its parent, so the kernel
    adds it to ours) and of the Prefect ``server`` meanwhile: where the work went. (CPU
    seconds are no steadier than wall time on a shared host: contention stretches both.)"""
    stage.log = log
    peak = 0
    done = threading.Event()
    cpu_before, server_before = _children_cpu(), _cpu_of(server)
    with log.open("wb") as out:
        started = time.perf_counter()
        stage.launched = time.time()
        try:
            proc = subprocess.Popen(
                stage.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            stage.note = f"could not start: {exc}"
            return stage
        root = psutil.Process(proc.pid)
        seen: dict[int, psutil.Process] = {}

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree(root, seen))
                done.wait(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            stage.returncode = proc.wait(timeout=timeout)
            stage.wall = time.perf_counter() - started
        except subprocess.TimeoutExpired:
            stage.wall = time.perf_counter() - started
            stage.note = f"timed out after {timeout:.0f} s"
            _kill_group(proc.pid)
            stage.returncode = proc.wait()
        stage.ended = time.time()
        done.set()
        sampler.join()
    # Helpers such as multiprocessing's resource tracker exit just after their parent.
    others = [p for p in seen.values() if p.pid != proc.pid]
    _, alive = psutil.wait_procs(others, timeout=3)
    leftovers = [p for p in alive if _alive(p)]
    if leftovers:  # processes the stage left behind in its session: note them, then end them
        stage.note = (
            stage.note + "; " if stage.note else ""
        ) + f"left {len(leftovers)} process(es)"
        _kill_group(proc.pid)
    stage.peak_rss = peak
    stage.cpu = _children_cpu() - cpu_before
    stage.server_cpu = _cpu_of(server) - server_before if server is not None else 0.0
    stage.ok = stage.returncode == 0 and not stage.note.startswith("timed out")
    if stage.returncode and not stage.note:
        stage.note = f"exit {stage.returncode}: {_last_line(log)}"
    return stage


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_group(pgid: int) -> None:
    """End the session this benchmark started for one stage (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


def _last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


def _tail(log: Path | None, n: int = 12) -> str:
    if log is None or not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()[-n:]
    return "\n".join("    | " + ln[:160] for ln in lines)


def _task_runs(warehouse: Path) -> list[int] | str:
    """``runs.task_runs`` of every run in the warehouse, in insertion order, or 'n/a'."""
    try:
        import duckdb

        with duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True) as con:
            return [int(r[0]) for r in con.execute("SELECT task_runs FROM runs").fetchall()]
    except Exception as exc:
        print(f"  (task runs: n/a, {type(exc).__name__}: {str(exc)[:120]})")
        return "n/a"


def _count_rows(warehouse: Path) -> str:
    try:
        import duckdb

        with duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True) as con:
            arts = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
            rej = con.execute("SELECT reason, count(*) FROM rejects GROUP BY 1 ORDER BY 2 DESC")
            reasons = ", ".join(f"{r} {c}" for r, c in rej.fetchall())
        return f"{arts} articles, rejects: {reasons or 'none'}"
    except Exception as exc:
        return f"n/a ({type(exc).__name__})"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    versions = []
    for pkg in ("trafilatura", "prefect", "duckdb", "pyarrow"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} -")
    return (
        f"{model}, {os.cpu_count()} cores, {ram:.1f} GiB RAM; Python {platform.python_version()}, "
        + ", ".join(versions)
    )


def prepare(workdir: Path, n: int, shared: Path) -> tuple[Path, Path]:
    """The cached corpus for N and its plain-HTML sibling (built once, outside any timing)."""
    corpus = workdir / f"corpus-v{CORPUS_VERSION}-n{n}"
    plain = workdir / f"corpus-v{CORPUS_VERSION}-n{n}-plain"
    if corpus.is_dir():
        print(f"corpus: {corpus} (cached)")
    else:
        t = time.perf_counter()
        build_corpus(corpus, n, shared)
        print(f"corpus: {corpus} (built in {time.perf_counter() - t:.1f} s)")
    if not plain.is_dir():
        build_plain_copy(corpus, plain)
    size = sum(p.stat().st_size for p in corpus_files(corpus))
    print(f"        {n} files, {size / 2**20:.0f} MiB; plain HTML copy for the peer: {plain}")
    return corpus, plain


def _zyte_ids(corpus: Path) -> dict[str, list[str]]:
    """page id -> URLs of its copies in the corpus, first copy (k=0) first."""
    copies: dict[str, list[tuple[int, str]]] = {}
    for p in corpus_files(corpus):
        parsed = parse_zyte_name(p)
        if parsed:
            copies.setdefault(parsed[0], []).append((parsed[1], zyte_url(*parsed)))
    return {pid: [url for _, url in sorted(urls)] for pid, urls in copies.items()}


def _quality(texts: dict[str, str | None], ids: dict[str, list[str]], shared: Path) -> Score:
    """Body F1 per Zyte page in the corpus, on the first of its copies that has a text."""
    truth = {pid: body for pid, _, _, body in zyte_pages(shared)}

    def text(urls: list[str]) -> str | None:
        return next((texts[u] for u in urls if texts.get(u)), None)

    return score((text(urls), truth[pid]) for pid, urls in ids.items())


def _pipeline_texts(warehouse: Path, urls: Sequence[str]) -> dict[str, str | None]:
    import duckdb

    with duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True) as con:
        out: dict[str, str | None] = {}
        for url in urls:
            row = con.execute("SELECT body FROM articles WHERE url = ?", [url]).fetchall()
            out[url] = row[0][0] if row else None
        return out


def _peer_texts(out_dir: Path) -> dict[str, str | None]:
    """Peer JSON outputs by the URL the page declares (trafilatura reads our canonical link)."""
    texts: dict[str, str | None] = {}
    for p in out_dir.rglob("*.json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if doc.get("source"):
            texts[doc["source"]] = doc.get("text")
    return texts


def cpu_line(stages: dict[str, Stage], yardstick: str) -> str:
    """The pipeline's CPU seconds (its process tree and the server's share while it ran)
    against the yardstick's, round by round and median: on a machine whose cores the
    workers keep busy, the work the flow process and the server add is time the workers
    wait."""
    pairs = [
        ((st.cpu + st.server_cpu), (other.cpu + other.server_cpu))
        for st in stages.values()
        if st.kind == "pipeline"
        and st.ok
        and (other := stages.get(st.name.replace("pipeline", yardstick)))
        and other.ok
        and other.cpu
    ]
    if not pairs:
        return f"pipeline / {yardstick} CPU: n/a"
    ratios = [own / base for own, base in pairs]
    rounds = ", ".join(f"{r:.3f}" for r in ratios)
    return (
        f"pipeline / {yardstick} CPU seconds (process tree + server), round by round: {rounds} "
        f"(median {median(ratios):.3f}); the pipeline's extra work is "
        f"{100 * (median(ratios) - 1):+.1f} % of the {yardstick}'s"
    )


def side_line(stages: dict[str, Stage]) -> str:
    """What the side columns cost: the bare pool's CPU and wall against the same pool with
    them switched off, round by round (each pair ran one after the other)."""
    pairs = [
        (st, other)
        for st in stages.values()
        if st.kind == "bare"
        and st.ok
        and (other := stages.get(st.name.replace("bare", "side")))
        and other.ok
        and other.cpu
        and other.wall
    ]
    if not pairs:
        return "side columns (bare / side): n/a"
    cpu = [a.cpu / b.cpu for a, b in pairs]
    wall = [b.wall / a.wall for a, b in pairs]
    return (
        f"side columns, bare / side CPU round by round: {', '.join(f'{r:.3f}' for r in cpu)} "
        f"(median {median(cpu):.3f}: they cost {100 * (median(cpu) - 1):+.1f} % CPU); "
        f"throughput with them {', '.join(f'{r:.3f}' for r in wall)} (median "
        f"{median(wall):.3f}×)"
    )


def _fmt_rate(n: int, st: Stage) -> str:
    return f"{n / st.wall:8.1f}" if st.ok and st.wall else "       -"


def report(n: int, stages: dict[str, Stage], started: datetime) -> None:
    print()
    print(f"article-etl benchmark, N = {n}, {started:%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print()
    print(
        f"{'stage':<10} {'wall s':>8} {'pages/s':>8} {'peak RSS MiB':>13} {'CPU s':>7} "
        f"{'server CPU s':>12}  status"
    )
    for st in stages.values():
        status = "ok" if st.ok else "FAILED"
        if st.note:
            status += f" ({st.note})"
        wall = f"{st.wall:8.1f}" if st.wall else "       -"
        rss = f"{st.peak_rss / 2**20:13.0f}" if st.peak_rss else "            -"
        cpu = f"{st.cpu:7.1f} {st.server_cpu:12.1f}"
        print(f"{st.name:<10} {wall} {_fmt_rate(n, st)} {rss} {cpu}  {status}")

    def best(kind: str) -> Stage | None:
        done = [st for st in stages.values() if st.kind == kind and st.ok]
        return min(done, key=lambda st: st.wall) if done else stages.get(kind)

    lim, pipe, second = best("limit"), best("pipeline"), best("second")
    peer = stages.get("peer")
    rounds = sum(1 for st in stages.values() if st.kind == "pipeline")

    def ratio(a: Stage | None, b: Stage | None, label: str) -> None:
        if a and b and a.ok and b.ok and b.wall:
            r = a.wall / b.wall
            share = f", {100 * r:.1f} %" if r < 0.2 else ""  # a small share: a target in %
            print(f"{label}: {r:.2f}× the time{share} ({1 / r:.2f}× the throughput)")
        else:
            print(f"{label}: n/a (a stage failed or was not run)")

    print()
    if rounds > 1 and lim and pipe:
        names = f"limit {lim.name}, pipeline {pipe.name}"
        print(f"best of {rounds} rounds: {names}" + (f", second {second.name}" if second else ""))
    ratio(pipe, lim, "pipeline / limit")
    ratio(pipe, best("bare"), "pipeline / bare pool (same transform)")
    for kind in ("limit", "bare"):  # the spread tells how far one round's figure can be trusted
        per_round = [
            other.wall / st.wall
            for st in stages.values()
            if st.kind == "pipeline"
            and st.ok
            and (other := stages.get(st.name.replace("pipeline", kind)))
            and other.ok
        ]
        if len(per_round) > 1:
            print(
                f"pipeline / {kind} throughput, round by round: "
                f"{', '.join(f'{r:.2f}' for r in per_round)} (median {median(per_round):.2f})"
            )
    print(cpu_line(stages, "bare"))
    print(side_line(stages))
    ratio(pipe, peer, "pipeline / peer ")
    ratio(pipe, best("trafmeta"), "pipeline / trafilatura with metadata")
    ratio(second, pipe, "second run / first run")
    shares = [
        f"{100 * st.wall / first.wall:.1f} %"
        for st in stages.values()
        if st.kind == "second"
        and st.ok
        and (first := stages.get(st.name.replace("second", "pipeline")))
        and first.ok
    ]
    if len(shares) > 1:
        print(f"second run / its own first run, round by round: {', '.join(shares)}")
    # Each pipeline round against the floor of its own round: a 10,000-page run's fixed
    # cost is read while the machine is as busy as it was for that round's floor.
    for kind, label in (("pipeline", "fixed start-up"), ("second", "unchanged re-run")):
        pairs = [
            (cost, floor_r.wall)
            for st in stages.values()
            if st.kind == kind
            and st.ok
            and (cost := st.fixed_s if kind == "pipeline" else st.wall)
            and (floor_r := stages.get(st.name.replace(kind, "floor")))
            and floor_r.ok
        ]
        if not pairs:
            continue
        what = "wall less work in the flow" if kind == "pipeline" else "its whole wall time"
        rounds_s = ", ".join(f"{c:.2f} vs {f:.2f} s ({c - f:+.2f})" for c, f in pairs)
        print(
            f"{label} ({what}) vs Prefect's floor (a trivial flow with one task), "
            f"round by round: {rounds_s}; median {median(c - f for c, f in pairs):+.2f} s"
        )
    for st in stages.values():
        for key, value in st.extra.items():
            print(f"{st.name} {key}: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of inputs")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true", help="keep warehouses and outputs")
    parser.add_argument("--quality", action="store_true", help="body F1 on the Zyte pages")
    parser.add_argument("--timeout", type=float, help="seconds per stage (default 300 + n/5)")
    parser.add_argument(
        "--stages",
        default="limit,bare,trafmeta,pipeline,peer,second,floor,side",
        help="comma-separated subset to run",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of limit, pipeline, second and floor, alternating (default 3)",
    )
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--cli", type=Path, default=BIN / "article-etl", help="the pipeline's CLI")
    parser.add_argument(
        "--no-server",
        dest="server",
        action="store_false",
        help="run the pipeline stages in Prefect's ephemeral mode instead of against a server",
    )
    args = parser.parse_args(argv)
    wanted = set(args.stages.split(","))
    timeout = args.timeout or 300 + args.n / 5
    cores = os.cpu_count() or 1
    started = datetime.now(UTC)

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus, plain = prepare(args.workdir.resolve(), args.n, args.shared)
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{started:%Y%m%dT%H%M%S}-", dir=args.workdir))
    warehouse = run_dir / "warehouse"
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    ids = _zyte_ids(corpus) if args.quality else {}
    cli = args.cli.absolute()
    ingest = [str(cli), "ingest", str(corpus), "--warehouse", str(warehouse), "--json"]
    cold_ingest = [str(cli), "ingest", str(corpus), "--warehouse", str(run_dir / "cold"), "--json"]
    server = _start_server(run_dir, env) if args.server else None
    texts_file = run_dir / "limit-texts.jsonl"
    limit = [sys.executable, "-m", "bench.limit", str(corpus), "--workers", str(cores)]
    plan = {
        "limit": limit + (["--texts", str(texts_file)] if args.quality else []),
        "bare": [*limit, "--transform"],
        "side": [*limit, "--transform", "--side-off"],
        "trafmeta": [*limit, "--with-metadata"],
        "pipeline": ingest,
        "peer": [
            str(BIN / "trafilatura"),
            "--input-dir",
            str(plain),
            "--output-dir",
            str(run_dir / "peer-out"),
            "--json",
            "--with-metadata",
            "--parallel",
            str(cores),
        ],
        "second": ingest,
        "floor": [sys.executable, "-m", "bench.floor"],
        "cold": cold_ingest,
    }
    # Limit, pipeline and second alternate for --rounds rounds (each pipeline on a new
    # warehouse, its second run on the same one at once), so that all see the machine in the
    # same state. Ratios use each stage's best round: the machine is shared and noisy.
    order: list[tuple[str, str, list[str], Path]] = []
    for r in range(1, args.rounds):
        extra_wh = run_dir / f"warehouse-{r}"
        round_ingest = [*ingest[:3], "--warehouse", str(extra_wh), "--json"]
        order += [(f"limit.{r}", "limit", plan["limit"], warehouse)]
        order += [(f"bare.{r}", "bare", plan["bare"], warehouse)]
        order += [(f"side.{r}", "side", plan["side"], warehouse)]
        order += [(f"trafmeta.{r}", "trafmeta", plan["trafmeta"], warehouse)]
        order += [(f"pipeline.{r}", "pipeline", round_ingest, extra_wh)]
        order += [(f"second.{r}", "second", round_ingest, extra_wh)]
        order += [(f"floor.{r}", "floor", plan["floor"], extra_wh)]
    order += [
        (name, name, plan[name], run_dir / "cold" if name == "cold" else warehouse)
        for name in (
            "limit",
            "bare",
            "side",
            "trafmeta",
            "pipeline",
            "second",
            "floor",
            "peer",
            "cold",
        )
    ]
    stages: dict[str, Stage] = {}
    for name, kind, cmd, wh in order:
        if kind not in wanted:
            continue
        stage = Stage(name, cmd, kind)
        stages[name] = stage
        print(f"\n== {name}: {' '.join(cmd)}", flush=True)
        if kind in ("pipeline", "second") and not cli.exists():
            stage.note = f"{cli} not found (is the package installed with its console script?)"
            print(f"  FAILED: {stage.note}")
            continue
        first = stages.get(name.replace("second", "pipeline"), stage)  # the same round's
        if kind == "second" and not first.ok:
            stage.note = "skipped: the first pipeline run failed"
            print(f"  {stage.note}")
            continue
        stage_env = dict(env)
        if server and kind in ("pipeline", "second", "floor"):
            stage_env["PREFECT_API_URL"] = server[1]
        else:
            stage_env.pop("PREFECT_API_URL", None)
        watched = psutil.Process(server[0].pid) if server else None
        measure(stage, run_dir / f"{name}.log", timeout, stage_env, run_dir, watched)
        tail = f", {stage.note}" if stage.note else f", exit {stage.returncode}"
        print(f"  {'ok' if stage.ok else 'FAILED'}: {stage.wall:.1f} s{tail}")
        if not stage.ok:
            print(_tail(stage.log))
        # Body F1 is scored on the main round only: the same settings give the same texts.
        _after(stage, args, run_dir, wh, ids if name == kind else {})

    if server:
        _kill_group(server[0].pid)
    report(args.n, stages, started)
    if args.keep:
        print(f"\noutputs kept in {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if all(st.ok for st in stages.values()) else 1


def _after(
    stage: Stage, args: argparse.Namespace, run_dir: Path, wh: Path, ids: dict[str, list[str]]
) -> None:
    """Per-stage details: counts, task runs, and body F1 when --quality is on."""
    if not stage.ok:
        return
    if stage.kind in ("limit", "bare", "side") and stage.log:
        lines = stage.log.read_text().strip().splitlines()
        try:
            summary = json.loads(lines[-1])
            stage.extra["inside"] = (
                f"{summary['seconds']} s in the pool, {summary['pages_per_s']} pages/s; "
                f"ok {summary['ok']}, empty {summary['empty']}, error {summary['error']}"
            )
        except (IndexError, ValueError, KeyError):
            pass
        if ids and stage.kind == "limit":
            texts: dict[str, str | None] = {}
            with (run_dir / "limit-texts.jsonl").open(encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    texts[rec["url"]] = rec["text"]
            stage.extra["body F1"] = _fmt_score(_quality(texts, ids, args.shared))
    elif stage.kind in ("pipeline", "second", "cold"):
        summary = _summary(stage.log)
        if summary:
            work_s = float(summary["seconds"])  # type: ignore[arg-type]
            stage.fixed_s = stage.wall - work_s
            stage.extra["fixed cost"] = (
                f"{stage.fixed_s:.2f} s = wall {stage.wall:.2f} s less {work_s:.2f} s of work "
                "in the flow"
            )
        runs = _task_runs(wh)
        mine = runs if isinstance(runs, str) else (runs[-1] if runs else "n/a")
        stage.extra["task runs"] = mine
        stage.extra["warehouse"] = _count_rows(wh)
        print(_tail(stage.log, 6))
        if ids and stage.kind == "pipeline":
            try:
                texts = _pipeline_texts(wh, [u for urls in ids.values() for u in urls])
                stage.extra["body F1"] = _fmt_score(_quality(texts, ids, args.shared))
            except Exception as exc:
                stage.extra["body F1"] = f"n/a ({type(exc).__name__}: {str(exc)[:120]})"
    elif stage.kind == "peer":
        out = run_dir / "peer-out"
        files = sum(1 for _ in out.rglob("*.json")) if out.exists() else 0
        # trafilatura names outputs by a hash of the text: copies of one page share a name
        stage.extra["outputs"] = f"{files} JSON files (same-text copies overwrite each other)"
        if ids:
            stage.extra["body F1"] = _fmt_score(_quality(_peer_texts(out), ids, args.shared))


def _summary(log: Path | None) -> dict[str, object] | None:
    """The run summary the CLI printed with --json (the log's last JSON object)."""
    if log is None:
        return None
    text = log.read_text(errors="replace")
    start = text.rfind("\n{") + 1
    try:  # log lines may follow the JSON (Prefect stopping its temporary server)
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return None


def _start_server(run_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A Prefect server with its own home, up before the pipeline starts (not timed)."""
    port = _free_port()
    server_env = {**env, "PREFECT_HOME": str(run_dir / "prefect-home")}
    server_env.pop("PREFECT_API_URL", None)
    log = (run_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=server_env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    print(f"prefect server ready at {url}")
                    return proc, url
        except OSError:
            time.sleep(0.5)
    _kill_group(proc.pid)
    raise RuntimeError("prefect server did not start within 120 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fmt_score(s: Score) -> str:
    return f"{s.f1:.3f} (precision {s.precision:.3f}, recall {s.recall:.3f}, {s.pages} pages)"


if __name__ == "__main__":
    sys.exit(main())
