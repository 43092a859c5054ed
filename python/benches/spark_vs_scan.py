"""neardup-spark against neardup scan on one corpus: wall time, articles/s, shuffle
bytes per article (from Spark's event log), identical copies collapsed, band rows and
seconds per stage; the two outputs are checked equal first.

    python python/benches/spark_vs_scan.py CORPUS [--master local[2]] [--partitions N]
        [--neardup target/release/neardup] [--emitted] [--driver-memory 1g]

With --emitted the scan also writes its stage tables (--emit-parquet) and Spark starts
from them instead of the corpus; the scan's time then includes writing them.

Prints one JSON object. Needs the package installed (maturin develop --release) and
pyspark."""

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq


def shuffle_totals(log_dir: str) -> dict:
    """Shuffle bytes and records written and read, summed over every task of the run."""
    totals = {"shuffle_write_bytes": 0, "shuffle_write_records": 0, "shuffle_read_bytes": 0}
    for path in glob.glob(f"{log_dir}/**/*", recursive=True):
        if not Path(path).is_file():
            continue
        with open(path, encoding="utf-8") as log:
            for line in log:
                event = json.loads(line)
                if event.get("Event") != "SparkListenerTaskEnd":
                    continue
                metrics = event.get("Task Metrics") or {}
                write = metrics.get("Shuffle Write Metrics") or {}
                read = metrics.get("Shuffle Read Metrics") or {}
                totals["shuffle_write_bytes"] += write.get("Shuffle Bytes Written", 0)
                totals["shuffle_write_records"] += write.get("Shuffle Records Written", 0)
                totals["shuffle_read_bytes"] += read.get("Remote Bytes Read", 0) + read.get(
                    "Local Bytes Read", 0
                )
    return totals


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--neardup", default="target/release/neardup")
    parser.add_argument("--driver-memory", default="1g", help="the local JVM's heap (Spark's default: 1g)")
    parser.add_argument(
        "--emitted",
        action="store_true",
        help="the scan also writes --emit-parquet, and Spark starts from those tables",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="neardup-spark-bench-"))

    emit = ["--emit-parquet", str(work / "signed")] if args.emitted else []
    started = time.perf_counter()
    subprocess.run(
        [args.neardup, "scan", "--no-progress", args.corpus, "--out", str(work / "scan.parquet")]
        + emit,
        check=True,
    )
    scan_seconds = time.perf_counter() - started

    from pyspark.sql import SparkSession

    import neardup.spark as ns

    logs = work / "events"
    logs.mkdir()
    spark = (
        SparkSession.builder.master(args.master)
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", str(logs))
        .config("spark.eventLog.compress", "false")
        .config("spark.eventLog.rolling.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    if args.emitted:
        summary = ns.run(
            spark, [], str(work / "spark"), partitions=args.partitions, emitted=str(work / "signed")
        )
    else:
        summary = ns.run(spark, [args.corpus], str(work / "spark"), partitions=args.partitions)
    spark_seconds = time.perf_counter() - started
    spark.stop()

    expected = pq.read_table(work / "scan.parquet").to_pylist()
    got = pq.read_table(work / "spark" / "assignments.parquet").to_pylist()
    assert got == expected, "neardup-spark and neardup scan differ"
    docs = summary["documents"]
    shuffle = shuffle_totals(str(logs))
    print(
        json.dumps(
            {
                "corpus": args.corpus,
                "documents": docs,
                "master": args.master,
                "partitions": args.partitions,
                "from_emitted_tables": args.emitted,
                "scan_seconds": round(scan_seconds, 2),
                "scan_articles_per_s": round(docs / scan_seconds),
                "spark_seconds": round(spark_seconds, 2),
                "spark_articles_per_s": round(docs / spark_seconds),
                "shuffle_write_bytes_per_article": round(shuffle["shuffle_write_bytes"] / docs),
                "shuffle_records_per_article": round(shuffle["shuffle_write_records"] / docs, 1),
                "copies_collapsed": summary.get("copies"),
                "band_rows": summary.get("band_rows"),
                "candidate_pairs": summary["candidate_pairs"],
                "links": summary["links"],
                "clusters": summary["clusters"],
                "stage_seconds": summary["seconds"],
                "equal": True,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
