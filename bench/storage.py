"""What writing the warehouse in DuckDB 1.5's storage format costs beside 2.0's own.

    python -m bench.storage [--n 100000] [--rounds 3]

For each format, a new database with the warehouse's real tables (sql/ddl) takes N generated
articles (bodies of ~2 KB of varied words) from a Parquet file, then an upsert of N/10 of them
(the load's shape: one transaction, keyed on url), a checkpoint, and a scan query. Prints the
best round's seconds of each step and the file's size.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from flows.core.schema import ARTICLE_SCHEMA
from flows.load.warehouse import create_tables

FORMATS = ("v1.5.0", "v2.0.0")


def _articles(n: int, seed: int, path: Path) -> None:
    rng = random.Random(seed)
    words = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{i:x}" for i in range(5000)]
    hosts = [f"news{i}.example" for i in range(200)]
    with pq.ParquetWriter(path, ARTICLE_SCHEMA, compression="zstd") as writer:
        for start in range(0, n, 10_000):
            rows = [
                {
                    "url": f"https://{rng.choice(hosts)}/{i:08d}",
                    "timestamp": None,
                    "title": " ".join(rng.choices(words, k=8)),
                    "body": "\n".join(
                        " ".join(rng.choices(words, k=50)) for _ in range(rng.randint(3, 12))
                    ),
                    "image": None,
                }
                for i in range(start, min(start + 10_000, n))
            ]
            writer.write_table(pa.Table.from_pylist(rows, schema=ARTICLE_SCHEMA))


def _round(fmt: str, base: Path, update: Path, folder: Path) -> dict[str, float]:
    db = folder / f"{fmt}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db), config={"storage_compatibility_version": fmt, "threads": 1})
    create_tables(con)
    t0 = time.perf_counter()
    con.execute("INSERT INTO articles SELECT * FROM read_parquet($p)", {"p": str(base)})
    con.execute("CHECKPOINT")
    t1 = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT OR REPLACE INTO articles SELECT * FROM read_parquet($p)", {"p": str(update)}
    )
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    t2 = time.perf_counter()
    con.execute("SELECT count(*), sum(length(body)) FROM articles WHERE body LIKE '%ba1%'")
    t3 = time.perf_counter()
    con.close()
    return {
        "load_s": t1 - t0,
        "upsert_s": t2 - t1,
        "scan_s": t3 - t2,
        "mb": db.stat().st_size / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        folder = Path(tmp)
        base, update = folder / "base.parquet", folder / "update.parquet"
        _articles(args.n, 1, base)
        _articles(args.n // 10, 2, update)  # same urls as the first tenth, new bodies
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for fmt in FORMATS:  # alternating, so both see the machine in the same state
                r = _round(fmt, base, update, folder)
                old = best.setdefault(fmt, r)
                best[fmt] = {k: min(old[k], r[k]) for k in r}
    print(f"{args.n} articles, best of {args.rounds} rounds, DuckDB {duckdb.__version__}")
    print(f"{'format':<8} {'load s':>8} {'upsert s':>9} {'scan s':>7} {'file MB':>8}")
    for fmt, r in best.items():
        cells = f"{r['load_s']:>8.2f} {r['upsert_s']:>9.2f} {r['scan_s']:>7.2f}"
        print(f"{fmt:<8} {cells} {r['mb']:>8.1f}")
    new, old = best["v2.0.0"], best["v1.5.0"]
    print(
        f"v1.5.0 / v2.0.0: load {old['load_s'] / new['load_s']:.2f}x, "
        f"upsert {old['upsert_s'] / new['upsert_s']:.2f}x, "
        f"scan {old['scan_s'] / new['scan_s']:.2f}x, "
        f"size {old['mb'] / new['mb']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
