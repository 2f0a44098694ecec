"""Soak test of the README's server recipe: a Prefect server started as the README's systemd
unit starts it (foreground, analytics off), a process work pool, a deployment of the ingest
flow scheduled every minute, and a worker, for a given time; then counts the runs by state and
those that were ever Late, and the server's CPU and memory.

    python -m bench.soak --minutes 30 --port 4299

Everything lives in a temporary folder (Prefect home, warehouse) and on 127.0.0.1; every
process it starts is stopped at the end. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _tree_usage(proc: psutil.Process) -> tuple[float, int]:
    """CPU seconds and RSS bytes of a process and its children."""
    cpu, rss = 0.0, 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except psutil.Error:
            pass
    return cpu, rss


async def _count_runs(deployment_name: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            limit=200,
        )
        by_state: dict[str, int] = {}
        ever_late = 0
        lateness: list[float] = []
        for run in runs:
            name = run.state.name if run.state else "?"
            by_state[name] = by_state.get(name, 0) + 1
            states = await client.read_flow_run_states(run.id)
            if any(s.name == "Late" for s in states):
                ever_late += 1
            if run.start_time and run.expected_start_time:
                lateness.append((run.start_time - run.expected_start_time).total_seconds())
        return {
            "runs_by_state": by_state,
            "runs_ever_late": ever_late,
            "start_delay_s_max": round(max(lateness), 1) if lateness else None,
            "start_delay_s_median": round(sorted(lateness)[len(lateness) // 2], 1)
            if lateness
            else None,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=4299)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="article-etl-soak-"))
    api = f"http://127.0.0.1:{args.port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(args.port),
    }
    os.environ.update(env)  # this process reads the API too, at the end
    log = open(home / "server.log", "w")  # noqa: SIM115 - open for the server's lifetime
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    procs = [server]
    figures: dict[str, object] = {"minutes": args.minutes, "home": str(home)}
    try:
        deadline = time.monotonic() + 180
        while not _healthy(api):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {home / 'server.log'}")
            time.sleep(1)
        run = {"env": env, "check": True, "cwd": REPO, "capture_output": True}
        subprocess.run(
            [str(BIN / "prefect"), "work-pool", "create", "soak", "--type", "process"], **run
        )
        deploy = (
            "from prefect import flow\n"
            f"flow.from_source(source={str(REPO)!r}, entrypoint='flows/ingest.py:ingest')"
            ".deploy(name='soak', work_pool_name='soak', interval=60, parameters={"
            f"'sources': [{str(REPO / 'examples')!r}], 'warehouse': {str(home / 'wh')!r}}})\n"
        )
        subprocess.run([sys.executable, "-c", deploy], **run)
        worker_log = open(home / "worker.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "soak"],
            env=env,
            cwd=home,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        procs.append(worker)
        ps = psutil.Process(server.pid)
        cpu0, _ = _tree_usage(ps)
        started = time.monotonic()
        rss_max, unhealthy = 0, 0
        end = started + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(15)
            _, rss = _tree_usage(ps)
            rss_max = max(rss_max, rss)
            if not _healthy(api):
                unhealthy += 1
            if server.poll() is not None:
                figures["server_exit"] = server.returncode
                break
        cpu1, rss_end = _tree_usage(ps)
        elapsed = time.monotonic() - started
        figures |= {
            "server_cpu_s": round(cpu1 - cpu0, 1),
            "server_cpu_share_of_one_core": round((cpu1 - cpu0) / elapsed, 3),
            "server_rss_mb_end": rss_end // 2**20,
            "server_rss_mb_max": rss_max // 2**20,
            "failed_health_checks": unhealthy,
        }
        figures |= asyncio.run(_count_runs("soak"))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
