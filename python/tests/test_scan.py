"""neardup.scan returns the assignment table `neardup scan --out x.parquet` writes, for
files and for Arrow tables, and bad inputs raise typed exceptions naming file and line."""

import json

import pyarrow as pa
import pyarrow.json as pj
import pytest

import neardup
from conftest import KREMLIN, ROOT, SYND_SAMPLE

COLUMNS = [
    "id",
    "cluster",
    "origin",
    "kind",
    "jaccard",
    "containment",
    "link_id",
    "link_jaccard",
    "link_containment",
    "link_containment_rev",
]


@pytest.mark.parametrize("corpus", [KREMLIN, SYND_SAMPLE], ids=lambda p: p.name)
def test_scan_of_files_equals_the_cli(corpus, cli_scan):
    got = neardup.scan(corpus)
    assert got.column_names == COLUMNS
    assert got.equals(cli_scan(corpus))


def test_scan_of_several_inputs_and_a_parquet_file(cli_scan):
    parquet = ROOT / "tests" / "fixtures" / "kremlin-zstd.parquet"
    inputs = [SYND_SAMPLE, parquet]
    assert neardup.scan(inputs).equals(cli_scan(*inputs))


def test_scan_with_a_config_equals_the_cli_with_flags(cli_scan):
    got = neardup.scan(SYND_SAMPLE, {"boilerplate": {"enabled": False}})
    assert got.equals(cli_scan(SYND_SAMPLE, args=("--no-chrome",)))


def test_scan_of_an_arrow_table_equals_the_cli_on_the_file(cli_scan):
    rows = [json.loads(line) for line in SYND_SAMPLE.read_text(encoding="utf-8").splitlines()]
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "text": [r["text"] for r in rows],
            "date": [r.get("date") for r in rows],
            "source": pa.array([r.get("source") for r in rows]).dictionary_encode(),
        }
    )
    assert neardup.scan(table).equals(cli_scan(SYND_SAMPLE))
    # pyarrow's own JSON reader types the dates as timestamps: the same answer.
    assert neardup.scan(pj.read_json(KREMLIN)).equals(cli_scan(KREMLIN))
    # A record batch and a renamed column.
    batch = table.rename_columns(["doc", "text", "date", "source"]).to_batches()[0]
    assert neardup.scan(batch, id_field="doc").equals(cli_scan(SYND_SAMPLE))


def test_bad_records_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "one two three"}\n{"id": "b", "text": 5}\n')
    with pytest.raises(neardup.BadRecord) as caught:
        neardup.scan(bad)
    assert caught.value.line == 2 and caught.value.path == str(bad)
    assert str(caught.value).startswith(f"{bad}:2: ")
    with pytest.warns(UserWarning, match="skipped"):
        table = neardup.scan(bad, skip_invalid=True)
    assert table.column("id").to_pylist() == ["a"]


def test_bad_tables_and_files_raise_bad_file(tmp_path):
    with pytest.raises(neardup.BadFile, match='has no column "text"'):
        neardup.scan(pa.table({"id": ["a"], "body": ["x"]}))
    with pytest.raises(neardup.BadRecord) as caught:
        neardup.scan(pa.table({"id": ["a", " "], "text": ["x", "y"]}))
    assert caught.value.row == 2
    unknown = tmp_path / "corpus.xyz"
    unknown.write_text("x")
    with pytest.raises(neardup.BadFile, match="unknown extension"):
        neardup.scan(unknown)
    with pytest.raises(neardup.StorageError):
        neardup.scan(tmp_path / "missing.jsonl")


def test_empty_table_gives_the_empty_assignment_table():
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    with pytest.warns(UserWarning) as notes:
        got = neardup.scan(empty)
    assert [str(n.message) for n in notes][-1] == "<table>: no records"
    assert 'no column "date"' in str(notes[0].message)
    assert got.num_rows == 0 and got.column_names == COLUMNS
