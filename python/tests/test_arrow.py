"""neardup.arrow: the stages over Arrow batches, chained in one process by
neardup.arrow.run, give the assignments of neardup.scan on the same corpus; each stage
refuses what is not its table."""

import pyarrow as pa
import pytest

import neardup
import neardup.arrow as na
from conftest import KREMLIN, SYND_SAMPLE


def lines(path):
    text = path.read_text(encoding="utf-8")
    return pa.table({"value": text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")})


def documents(path):
    return pa.table(na.documents_from_lines(lines(path), str(path)))


@pytest.mark.parametrize("corpus", [KREMLIN, SYND_SAMPLE], ids=lambda p: p.name)
@pytest.mark.parametrize("config", [None, {"boilerplate": {"enabled": False}}], ids=["chrome", "no-chrome"])
def test_stages_chained_equal_the_scan(corpus, config):
    expected = neardup.scan(corpus, config)
    assert na.run(documents(corpus), config).equals(expected)


def test_documents_from_parts_keep_file_lines_in_errors():
    part = pa.table({"value": ['{"id": "a", "text": "one two"}', "", '{"id": "b"}']})
    with pytest.raises(neardup.BadRecord) as caught:
        na.documents_from_lines(part, "corpus.jsonl", first_line=41, first_ordinal=40)
    assert caught.value.line == 43 and str(caught.value).startswith("corpus.jsonl:43: ")
    docs = na.documents_from_lines(part.slice(0, 2), "corpus.jsonl", first_line=41, first_ordinal=40)
    assert docs.column("ordinal").to_pylist() == [40]


def test_chrome_counts_make_the_model_only_under_its_capacity():
    docs = documents(SYND_SAMPLE)
    counts = na.chrome_counts(pa.table(na.chrome_keys(docs)))
    assert na.chrome_model(counts, docs.num_rows)
    with pytest.raises(neardup.InvalidConfig, match="boilerplate.capacity") as caught:
        na.chrome_model(counts, docs.num_rows, {"boilerplate": {"capacity": 16}})
    assert caught.value.field == "boilerplate.capacity"


def test_stages_refuse_tables_that_are_not_theirs():
    with pytest.raises(neardup.InvalidInput, match='no column "lanes"'):
        na.band_rows(pa.table({"ordinal": [1], "size": pa.array([3], pa.int32())}))
    docs = pa.table(
        {"ordinal": [0], "id": ["x"], "text": ["!!!"], "source": [None], "published": pa.array([None], pa.int64())}
    )
    with pytest.raises(neardup.InvalidInput) as caught:
        na.sign(docs)
    assert caught.value.field == "text" and '"x"' in str(caught.value)


def test_signed_rows_carry_shingle_sketches_and_other_shingles_are_refused():
    signed = pa.table(na.sign(documents(KREMLIN)))
    for keys, size in zip(signed.column("shingles").to_pylist(), signed.column("size").to_pylist()):
        assert keys == sorted(set(keys)) and all(0 <= k <= 0xFFFF for k in keys)
        assert 0.9 * min(size, 1024) <= len(keys) <= min(size, 1024)
    # A shingles column of 32-bit values (the layout before sketches) is not a sketch.
    rows = signed.column("shingles").to_pylist()
    rows[0] = [k + 70000 for k in rows[0]]
    wide = signed.set_column(signed.schema.get_field_index("shingles"), "shingles", pa.array(rows, pa.list_(pa.int32())))
    with pytest.raises(neardup.InvalidInput, match='column "shingles" of the stage table must be'):
        na.collapse(wide)


def test_contract_names_format_scheme_and_config():
    meta = na.contract({"num_perm": 64})
    assert meta["neardup.format_version"] == "2"
    assert '"num_perm":64' in meta["neardup.config"]
    assert meta["neardup.hash_scheme"].startswith("gxhash3/")


def test_stage_outputs_have_the_contract_columns():
    """The band rows and links the stages return are the contract's tables (every column
    nullable, so that a runner can union them); two equal texts collapse."""
    docs = pa.table(
        {
            "ordinal": [0, 1, 2],
            "id": ["a", "b", "c"],
            "text": ["the same words in a row here and there again"] * 2 + ["other text entirely"],
            "source": [None] * 3,
            "published": pa.array([None] * 3, pa.int64()),
        }
    )
    signed = na.sign(docs)
    copies = na.collapse(signed)
    assert copies.to_pydict()["a"] == [0] and copies.to_pydict()["b"] == [1]
    for table, batch in [("bands", na.band_rows(signed)), ("links", copies)]:
        expected = na.schema(table)
        assert batch.schema.names == expected.names, table
        assert batch.schema.types == expected.types, table
        assert expected.metadata[b"neardup.table"] == table.encode()


def test_a_file_of_another_table_or_version_is_refused(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "bands.parquet"
    pq.write_table(pa.table({"a": [1]}).replace_schema_metadata(na.contract(None, "bands")), path)
    na.check_contract(str(path), "bands")
    with pytest.raises(neardup.ContractMismatch) as caught:
        na.check_contract(str(path), "links")
    assert (caught.value.key, caught.value.expected, caught.value.found) == (
        "neardup.table", "links", "bands"
    )
    meta = dict(na.contract(None, "bands"), **{"neardup.format_version": "99"})
    pq.write_table(pa.table({"a": [1]}).replace_schema_metadata(meta), path)
    with pytest.raises(neardup.ContractMismatch, match="format_version = 99, but this reader expects"):
        na.check_contract(str(path), "bands")
