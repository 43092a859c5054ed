"""neardup.arrow: the stages over Arrow batches, chained in one process by
neardup.arrow.run, give the assignments of neardup.scan on the same corpus, also past
the small-corpus bound where the scan learns chrome from a sample; each stage refuses
what is not its table."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import neardup
import neardup.arrow as na
from conftest import GAP_OUTLET, KREMLIN, LARGE, SYND_SAMPLE


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


def test_documents_are_numbered_and_measured_as_the_scan_counts_records():
    records = ['{"id": "a", "text": "one two"}', '{"id": "b", "text": "tr\u00e8s bien"}']
    part = pa.table({"value": [records[0], "", " \t", records[1]]})
    docs = na.documents_from_lines(part, "corpus.jsonl", first_line=41, first_ordinal=40)
    assert docs.column("ordinal").to_pylist() == [40, 41]
    assert docs.column("bytes").to_pylist() == [len(r.encode()) + 1 for r in records]
    table = pa.table({"id": ["a", "b"], "text": ["one two", "très bien"]})
    docs = na.documents_from_table(table, "t", first_ordinal=7)
    assert docs.column("ordinal").to_pylist() == [7, 8]
    assert docs.column("bytes").to_pylist() == [8, 11]


def test_the_chrome_sample_is_the_whole_corpus_within_the_bound_and_spread_past_it():
    assert na.chrome_sample(65_536, 64 << 20) == [(0, 65_536)]
    assert na.chrome_sample(0, 0) == [(0, 0)]
    runs = na.chrome_sample(LARGE, 1)
    assert runs[0][0] == 0 and runs[-1][1] <= LARGE
    assert sum(end - start for start, end in runs) == LARGE // 2
    assert all(a[1] < b[0] for a, b in zip(runs, runs[1:]))
    # Past the byte bound alone, a corpus of few records is sampled too.
    assert len(na.chrome_sample(1000, (64 << 20) + 1)) > 1


def test_chrome_keys_keep_the_sampled_documents_and_refuse_runs_out_of_order():
    docs = documents(SYND_SAMPLE)
    every = pa.table(na.chrome_keys(docs))
    some = pa.table(na.chrome_keys(docs, None, [(0, 5), (40, 45)]))
    ordinals = set(some["ordinal"].to_pylist())
    assert ordinals == set(range(5)) | set(range(40, 45))
    assert some.num_rows == pc.sum(pc.is_in(every["ordinal"], pa.array(sorted(ordinals)))).as_py()
    with pytest.raises(neardup.InvalidInput, match="ascending, disjoint") as caught:
        na.chrome_keys(docs, None, [(40, 45), (0, 5)])
    assert caught.value.field == "sample"


def test_a_large_corpus_learns_chrome_from_the_scans_sample(large_corpus, cli_scan):
    """Past the bound, the stages learn chrome from the records the scan samples: the
    scan's answer (its gap outlet's articles in one cluster, their chrome unseen)."""
    docs = documents(large_corpus)
    assert docs.num_rows == LARGE
    # The scan's measure: every record's bytes and line end, blank lines ("  \n", "\n")
    # left out.
    assert pc.sum(docs["bytes"]).as_py() == large_corpus.stat().st_size - 4
    expected = cli_scan(large_corpus)
    assert neardup.scan(large_corpus).equals(expected)
    gap = expected.filter(pc.starts_with(expected["id"], "gap-"))
    assert gap.num_rows == GAP_OUTLET and len(set(gap["cluster"].to_pylist())) == 1
    assert na.run(docs).equals(expected)


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
