#!/usr/bin/env python3
"""Drives a release `neardup serve` over loopback with a client no one here wrote.

Generates Python stubs from proto/neardup/v1/neardup.proto with grpcio-tools, starts the
server binary on a free loopback port, and checks Ingest (unary and streamed), Check,
error codes, the standard health service and a clean exit on SIGTERM. Expectations come
from the Kremlin example's ground truth (examples/kremlin.jsonl).

Usage: tests/python/test_grpc.py [--binary target/release/neardup]
Needs: pip install grpcio grpcio-tools grpcio-health-checking
"""

import argparse
import datetime
import importlib.resources
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICE = "neardup.v1.Deduplicator"


def generate_stubs(out_dir):
    """Compiles the proto into out_dir and imports the generated modules."""
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    status = protoc.main([
        "grpc_tools.protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(ROOT / "proto/neardup/v1/neardup.proto"),
    ])
    if status != 0:
        sys.exit(f"protoc failed with status {status}")
    sys.path.insert(0, str(out_dir))
    from neardup.v1 import neardup_pb2, neardup_pb2_grpc  # noqa: E402 (generated just now)
    return neardup_pb2, neardup_pb2_grpc


def start_server(binary, work_dir):
    """Starts `neardup serve` on a free port; returns the process and its address.

    The address comes from `--address-file`, polled every few milliseconds; stderr is
    drained on a thread (so the server never blocks on a full pipe) and quoted if the
    server exits first or is not listening in time.
    """
    address_file = work_dir / "address"
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--address-file", str(address_file),
         "--data-dir", str(work_dir / "data")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = []
    drain = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
    drain.start()
    deadline = time.monotonic() + 60
    while not address_file.exists():
        if proc.poll() is not None:
            drain.join()
            sys.exit(f"server exited before listening (status {proc.returncode}):\n{''.join(log)}")
        if time.monotonic() > deadline:
            proc.kill()
            drain.join()
            sys.exit(f"server not listening after 60 s:\n{''.join(log)}")
        time.sleep(0.005)
    # The server renames the file into place, so it is complete once it exists.
    return proc, address_file.read_text().strip()


def load_kremlin(pb):
    articles, truth = [], {}
    for line in (ROOT / "examples/kremlin.jsonl").read_text().splitlines():
        row = json.loads(line)
        published = pb.Article().published_at
        published.FromDatetime(
            datetime.datetime.fromisoformat(row["date"]).replace(tzinfo=datetime.timezone.utc))
        articles.append(pb.Article(id=row["id"], text=row["text"], title=row["title"],
                                   source=row["source"], published_at=published))
        truth[row["id"]] = row["cluster"]
    return articles, truth


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_code(call, code, what):
    try:
        call()
    except grpc.RpcError as err:
        expect(err.code() == code, f"{what}: got {err.code()} ({err.details()}), want {code}")
        return err
    raise AssertionError(f"{what}: succeeded, want {code}")


def run(binary):
    with tempfile.TemporaryDirectory() as stubs:
        pb, pb_grpc = generate_stubs(pathlib.Path(stubs))
        proc, address = start_server(binary, pathlib.Path(stubs))
        try:
            with grpc.insecure_channel(address) as channel:
                drive(pb, pb_grpc, channel)
        except BaseException:
            proc.kill()
            raise
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=30)
        expect(status == 0, f"server exited with {status} on SIGTERM, want 0")
        print("ok: SIGTERM stops the server with status 0")


def drive(pb, pb_grpc, channel):
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.DeduplicatorStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        expect(reply.status == health_pb2.HealthCheckResponse.SERVING, f"health {service!r}")
    print("ok: health reports SERVING")

    articles, truth = load_kremlin(pb)
    by_id = {a.id: a for a in articles}
    # The readout, its chrome-wrapped aggregator copy, and an independent report.
    first = stub.Ingest(pb.IngestRequest(article=by_id["aggregator-1"]), timeout=10)
    expect(first.kind == pb.NEW_STORY, f"aggregator-1: {first}")
    copy = stub.Ingest(pb.IngestRequest(article=by_id["korrespondent"]), timeout=10)
    expect(copy.kind == pb.DUPLICATE and copy.cluster_id == "aggregator-1", f"korrespondent: {copy}")
    # korrespondent was published first (20:15 against 21:40), so it is the origin.
    expect(copy.origin_id == "korrespondent", f"origin: {copy.origin_id}")
    expect(copy.matches[0].id == "aggregator-1" and copy.best_jaccard >= 0.5, f"{copy.matches}")
    retried = stub.Ingest(pb.IngestRequest(article=by_id["korrespondent"]), timeout=10)
    expect(retried.cluster_id == copy.cluster_id and retried.kind == copy.kind, "idempotent retry")
    print("ok: unary Ingest labels new story, duplicate and origin")

    # The rest as a stream, answered in order; stories follow the ground truth.
    rest = [a for a in articles
            if a.id not in ("aggregator-1", "korrespondent", "aggregator-3-excerpt")]
    verdicts = list(stub.IngestStream(iter(pb.IngestRequest(article=a) for a in rest), timeout=30))
    expect([v.id for v in verdicts] == [a.id for a in rest], "stream answers in request order")
    for verdict in verdicts:
        same_story = truth[verdict.id] == truth["aggregator-1"]
        expect((verdict.cluster_id == "aggregator-1") == same_story, f"cluster of {verdict.id}")
        expect(verdict.kind == (pb.DUPLICATE if same_story else pb.NEW_STORY), f"kind of {verdict.id}")
    print(f"ok: IngestStream labelled {len(verdicts)} articles in order")

    stats = stub.Stats(pb.StatsRequest(), timeout=5)
    documents = stats.documents
    expect(stats.durable and stats.disk_bytes > 0, f"state is on disk: {stats}")
    probe = pb.Article()
    probe.CopyFrom(by_id["aggregator-2"])
    probe.id = "probe"
    checked = stub.Check(pb.CheckRequest(article=probe), timeout=10)
    expect(checked.kind == pb.DUPLICATE and checked.cluster_id == "aggregator-1", f"check: {checked}")
    expect(stub.Stats(pb.StatsRequest(), timeout=5).documents == documents, "Check stored nothing")
    print("ok: Check labels without storing")

    blank = pb.Article(id="blank", text="   ")
    err = expect_code(lambda: stub.Ingest(pb.IngestRequest(article=blank), timeout=5),
                      grpc.StatusCode.INVALID_ARGUMENT, "blank text")
    expect("text" in err.details(), f"message names the field: {err.details()}")
    conflict = pb.Article(id="korrespondent", text="Entirely different words about the weather today.")
    expect_code(lambda: stub.Ingest(pb.IngestRequest(article=conflict), timeout=5),
                grpc.StatusCode.ALREADY_EXISTS, "same id, other text")
    expect_code(lambda: stub.GetCluster(pb.GetClusterRequest(cluster_id="nope"), timeout=5),
                grpc.StatusCode.NOT_FOUND, "unknown cluster")
    huge = pb.Article(id="huge", text="word " * (2 << 20))
    expect_code(lambda: stub.Check(pb.CheckRequest(article=huge), timeout=10),
                grpc.StatusCode.RESOURCE_EXHAUSTED, "message over 8 MiB")
    print("ok: bad input gets INVALID_ARGUMENT, ALREADY_EXISTS, NOT_FOUND, RESOURCE_EXHAUSTED")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target/release/neardup"))
    args = parser.parse_args()
    run(args.binary)
    print("python grpc client: all checks passed")


if __name__ == "__main__":
    main()
