"""neardup-spark gives the assignments of `neardup scan` (the release binary), at 1 and
at 7 shuffle partitions, on the example, the committed fixture, a skewed corpus (5,000
identical copies, collapsed to one set of band rows, and 2,000 articles sharing one
chrome line), a corpus past the small-corpus bound (where chrome is learned from the
scan's sample of records, read in several partitions with blank lines among them), the
stage tables `neardup scan --emit-parquet` wrote and, when it is there,
../shared/data/synd-dev.jsonl; the stage tables it writes carry the contract's
metadata, and a reader under another config refuses them."""

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import GAP_OUTLET, KREMLIN, LARGE, SYND_DEV, SYND_SAMPLE

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed")

import neardup  # noqa: E402
import neardup.arrow as na  # noqa: E402
import neardup.spark as ns  # noqa: E402


def write_config(directory):
    path = directory / "config.json"
    path.write_text(json.dumps({"seed": 7}))
    return path


@pytest.fixture(scope="module")
def spark():
    session = ns.session("local[2]", partitions=7)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_scan(spark, inputs, partitions, config=None):
    summary = ns.run(spark, [str(p) for p in inputs], None, config, partitions=partitions)
    table = summary["assignments"].toArrow()
    return table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))


def same(got, expected):
    expected = expected.cast(pa.schema([f.with_nullable(True) for f in expected.schema]))
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows
    mismatched = [
        (g, e) for g, e in zip(got.to_pylist(), expected.to_pylist()) if g != e
    ]
    assert not mismatched, f"{len(mismatched)} rows differ, first: {mismatched[0]}"


@pytest.mark.parametrize("partitions", [1, 7])
@pytest.mark.parametrize("corpus", [KREMLIN, SYND_SAMPLE], ids=lambda p: p.name)
def test_spark_equals_the_scan(spark, cli_scan, corpus, partitions):
    same(spark_scan(spark, [corpus], partitions), cli_scan(corpus))


def test_several_inputs_in_order_and_a_config(spark, cli_scan):
    parquet = KREMLIN.parent.parent / "tests" / "fixtures" / "kremlin-snappy.parquet"
    inputs = [SYND_SAMPLE, parquet]
    config = {"boilerplate": {"enabled": False}}
    same(spark_scan(spark, inputs, 3, config), cli_scan(*inputs, args=("--no-chrome",)))


def skewed(path):
    """5,000 copies of one story, and 2,000 other articles of one outlet sharing a
    chrome line, interleaved."""
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(20000)]
    story = " ".join(rng.choice(vocabulary) for _ in range(120))
    with open(path, "w", encoding="utf-8") as out:
        for i in range(7000):
            if i % 7 < 5:
                row = {"id": f"copy-{i}", "text": story, "source": f"outlet-{i % 50}.example"}
            else:
                body = " ".join(rng.choice(vocabulary) for _ in range(80))
                row = {
                    "id": f"own-{i}",
                    "text": f"{body}\nSubscribe to our newsletter for the day's top stories",
                    "source": "daily.example",
                }
            row["date"] = f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
            out.write(json.dumps(row) + "\n")


def test_skewed_corpus_collapses_its_copies_and_equals_the_scan(spark, cli_scan, tmp_path):
    corpus = tmp_path / "skew.jsonl"
    skewed(corpus)
    summary = ns.run(spark, [str(corpus)], None, partitions=7)
    table = summary["assignments"].toArrow()
    same(table.cast(pa.schema([f.with_nullable(True) for f in table.schema])), cli_scan(corpus))
    # The 5,000 identical copies are one representative and 4,999 copies with no band
    # rows: 28 Jaccard and 32 containment bands for each of the 2,001 others.
    bands = 28 + 32
    assert summary["documents"] == 7000
    assert summary["copies"] == 4999
    assert summary["band_rows"] == (7000 - 4999) * bands
    assert summary["band_rows"] < summary["documents"] * bands / 3


def test_a_large_corpus_learns_chrome_from_the_scans_sample(spark, cli_scan, large_corpus):
    """Past the bound, Spark counts the records and bytes as the scan does, numbers the
    records of every partition as the scan does (blank lines are none), and so learns
    chrome from the scan's sample: the same answer, the gap outlet's articles in one
    cluster as the scan puts them."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(1 << 20))
    try:
        summary = ns.run(spark, [str(large_corpus)], None, partitions=4)
    finally:
        spark.conf.set(key, before)
    assert summary["documents"] == LARGE
    table = summary["assignments"].toArrow()
    expected = cli_scan(large_corpus)
    same(table.cast(pa.schema([f.with_nullable(True) for f in table.schema])), expected)
    gap = [row["cluster"] for row in expected.to_pylist() if row["id"].startswith("gap-")]
    assert len(gap) == GAP_OUTLET and len(set(gap)) == 1


@pytest.mark.parametrize("corpus", [KREMLIN, SYND_SAMPLE], ids=lambda p: p.name)
def test_spark_from_an_emitted_directory_equals_the_scan(spark, cli_scan, neardup_bin, corpus, tmp_path):
    import subprocess

    emitted = tmp_path / "signed"
    subprocess.run(
        [str(neardup_bin), "scan", str(corpus), "--emit-parquet", str(emitted), "--out", "/dev/null"],
        check=True,
        capture_output=True,
    )
    summary = ns.run(spark, [], None, partitions=7, emitted=str(emitted))
    table = summary["assignments"].toArrow()
    same(table.cast(pa.schema([f.with_nullable(True) for f in table.schema])), cli_scan(corpus))


def test_an_emitted_directory_under_another_config_is_refused(spark, neardup_bin, tmp_path):
    import subprocess

    emitted = tmp_path / "signed"
    subprocess.run(
        [str(neardup_bin), "scan", str(KREMLIN), "--emit-parquet", str(emitted), "--out", "/dev/null"],
        check=True,
        capture_output=True,
    )
    with pytest.raises(neardup.ContractMismatch) as caught:
        ns.run(spark, [], None, {"seed": 7}, emitted=str(emitted))
    assert caught.value.key == "neardup.config.seed"
    assert caught.value.expected == "7"
    assert caught.value.path.endswith("documents.parquet")
    assert "neardup.config.seed = 7" in str(caught.value)
    assert ns.main(["--emitted", str(emitted), "--out", str(tmp_path / "o"), "--config", str(write_config(tmp_path))]) == 2


@pytest.mark.skipif(not SYND_DEV.exists(), reason="../shared/data/synd-dev.jsonl is absent")
@pytest.mark.parametrize("partitions", [1, 7])
def test_synd_dev_equals_the_scan(spark, cli_scan, partitions):
    same(spark_scan(spark, [SYND_DEV], partitions), cli_scan(SYND_DEV))


def test_console_script_writes_parquet_and_jsonl_as_the_cli(spark, cli_scan, neardup_bin, tmp_path):
    import subprocess

    out = tmp_path / "out"
    assert ns.main([str(KREMLIN), "--out", str(out), "--partitions", "2"]) == 0
    same(pq.read_table(out / "assignments.parquet"), cli_scan(KREMLIN))
    lines = [
        json.loads(line)
        for part in sorted((out / "assignments.jsonl").glob("part-*"))
        for line in part.read_text(encoding="utf-8").splitlines()
    ]
    cli = subprocess.run(
        [str(neardup_bin), "scan", str(KREMLIN)], check=True, capture_output=True, text=True
    ).stdout
    assert lines == [json.loads(line) for line in cli.splitlines()]
    na.check_contract(str(out / "stages" / "assignments.parquet"), "assignments")
    assert not (out / "stages" / "links.parquet").exists()


def test_stage_tables_carry_the_contract_and_a_reader_refuses_another(spark, tmp_path):
    out = tmp_path / "out"
    config = {"seed": 7}
    ns.run(spark, [str(KREMLIN)], str(out), config, partitions=3, keep_stages=True)
    stages = out / "stages"
    for table in ("assignments", "links", "components"):
        parts = sorted((stages / f"{table}.parquet").glob("part-*.parquet"))
        assert parts, table
        for part in parts:
            written = pq.read_schema(part)
            assert written.metadata[b"neardup.table"] == table.encode()
            assert json.loads(written.metadata[b"neardup.config"])["seed"] == 7
            assert written.remove_metadata() == na.schema(table, config).remove_metadata()
        na.check_contract(str(stages / f"{table}.parquet"), table, config)
        na.check_contract(str(parts[0]), table, config)

    # By ordinal, in input order, part files in order: the by-id results, renamed.
    lines = KREMLIN.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["id"] for line in lines if line.strip()]
    parts = sorted((stages / "assignments.parquet").glob("part-*.parquet"))
    by_ordinal = pa.concat_tables([pq.read_table(p) for p in parts])
    assert by_ordinal["ordinal"].to_pylist() == list(range(len(ids)))
    results = pq.read_table(out / "assignments.parquet")
    assert [ids[o] for o in by_ordinal["origin"].to_pylist()] == results["origin"].to_pylist()
    assert by_ordinal["kind"].to_pylist() == results["kind"].to_pylist()
    linked = pq.read_table(stages / "links.parquet")
    assert linked.num_rows > 0

    # Under the default config (another seed), and as another table: refused, naming both.
    with pytest.raises(neardup.ContractMismatch) as caught:
        na.check_contract(str(stages / "assignments.parquet"), "assignments")
    assert caught.value.key == "neardup.config.seed"
    assert caught.value.found == "7"
    assert caught.value.path.endswith("part-00000.parquet")
    assert "written with neardup.config.seed = 7, but this reader expects" in str(caught.value)
    expected = "neardup.table = links, but this reader expects neardup.table = components"
    with pytest.raises(neardup.ContractMismatch, match=expected):
        na.check_contract(str(stages / "links.parquet"), "components", config)


def test_an_empty_stage_table_keeps_its_schema_and_a_bare_directory_is_refused(spark, tmp_path):
    path = tmp_path / "links.parquet"
    empty = spark.createDataFrame([], ns._LINKS)
    assert ns.write_stage(empty, str(path), "links") == 0
    na.check_contract(str(path), "links")
    assert pq.read_table(path).num_rows == 0
    with pytest.raises(neardup.StorageError, match="s3a://bucket/out/stages: the stage tables"):
        ns.run(spark, [str(KREMLIN)], "s3a://bucket/out")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(neardup.ContractMismatch, match="neardup.table = nothing"):
        na.check_contract(str(bare), "links")


def test_bad_inputs_exit_2_naming_the_file_and_line(spark, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "one two three"}\n\n{"id": "b", "text": 7}\n')
    assert ns.main([str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:3: " in capsys.readouterr().err
    other = tmp_path / "corpus.csv"
    other.write_text("id,text\na,b\n")
    assert ns.main([str(other), "--out", str(tmp_path / "o")]) == 2
    assert "neardup-spark reads JSONL" in capsys.readouterr().err
