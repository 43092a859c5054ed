"""The batch scan's stages over Arrow record batches: the very decisions ``neardup scan``
makes, cut where a distributed runner has to move rows between machines.

Every function takes a ``pyarrow.Table`` or ``RecordBatch`` of one stage table and
returns the next as a ``RecordBatch`` (zero copy both ways through the Arrow C data
interface). A runner calls each one once per partition and does the rest with its own
group-bys and joins; :mod:`neardup.spark` is one such runner and :func:`run` another,
in one process. The tables, in order:

============  =====================================================================
documents     ``ordinal`` (int64, input order), ``id``, ``text``, ``source``,
              ``published`` (int64 Unix ms), ``bytes`` (int64: the record's input
              bytes as ``neardup scan`` measures a corpus)
chrome keys   ``key`` (int64), ``ordinal``, ``story`` (int32): one row per distinct
              line key of a document of the chrome sample; counted per key
              (documents, documents of another story than the first one's, the
              first one's story) they give the chrome model
signed        ``ordinal``, ``size`` (int32 shingles), ``published``, ``lanes``
              (list<int32>, the MinHash signature), ``shingles`` (list<int32>, the
              shingle sketch: distinct top 16 bits of the shingles' low 32, ascending),
              ``chrome`` (int32 lines left out)
copies        links (below) from each document to its identical copies (equal
              signature, size and shingles), which get no band rows
band rows     ``view`` (int8: 0 Jaccard, 1 containment), ``band`` (int32), ``key``
              (int64), ``ordinal``, ``size``: a bucket is (view, band, key)
pairs         ``a``, ``b``: ``a`` finds ``b`` in a bucket
links         ``a``, ``b``, ``jaccard``, ``containment``, ``containment_rev``
assignments   ``ordinal``, ``origin``, ``kind``, ``jaccard``, ``containment``,
              ``link``, ``link_jaccard``, ``link_containment``,
              ``link_containment_rev``
============  =====================================================================

Unsigned values (lanes, shingles, keys) are stored bit for bit in signed columns, the
types Spark has. Ordinals must follow input order and stay below 2^32; ties everywhere
break by ordinal, which is what makes every partitioning give the scan's answer. The
chrome sample is chosen by ordinal too: :func:`chrome_sample` numbers the corpus's
records from 0 without gaps, as the readers (:func:`documents_from_lines`,
:func:`documents_from_table`, given each part's first ordinal) do.

A corpus above ``neardup scan``'s small-corpus bound (65,536 records or 64 MiB)
learns chrome from an evenly spread sample of its records only; a runner gets it from
:func:`chrome_sample` with the corpus's record count and byte count (the documents
table's rows and its ``bytes`` sum), passes it to :func:`chrome_keys`, and gives
:func:`chrome_model` the number of sampled documents. Tables stored between jobs follow the contract of
``docs/stage-tables.md``: :func:`schema` and :func:`contract` give their columns and
metadata (table, format version, hash scheme, config), :func:`check_contract` refuses
a file written under another.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Union

import pyarrow as pa
import pyarrow.compute as pc

from . import _config_json, _neardup

__all__ = [
    "documents_from_lines",
    "documents_from_table",
    "chrome_sample",
    "chrome_keys",
    "chrome_counts",
    "chrome_model",
    "sign",
    "collapse",
    "band_rows",
    "candidate_pairs",
    "verify_pairs",
    "cluster_components",
    "components",
    "contract",
    "schema",
    "check_contract",
    "run",
]

Data = Union[pa.Table, pa.RecordBatch]
Config = Optional[Mapping[str, Any]]


def _batch(data: Data) -> pa.RecordBatch:
    if isinstance(data, pa.RecordBatch):
        return data
    batches = data.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=data.schema)
    return batches[0]


def _read(
    id_field: str = "id",
    text_field: str = "text",
    date_field: str = "date",
    source_field: str = "source",
    date_format: Optional[str] = None,
) -> dict:
    return {
        "id_field": id_field,
        "text_field": text_field,
        "date_field": date_field,
        "source_field": source_field,
        "date_format": date_format,
        "skip_invalid": False,
    }


def documents_from_lines(
    lines: Data, name: str, *, first_line: int = 1, first_ordinal: int = 0, **fields: Any
) -> pa.RecordBatch:
    """The documents of JSONL lines (column ``value``, blank lines included; the first
    is line ``first_line`` of file ``name``), read as ``neardup scan`` reads them. The
    first record (blank lines are none) gets ordinal ``first_ordinal``, each next one
    one more; ``bytes`` is the line's bytes plus its line end. Raises
    :class:`neardup.BadRecord` naming the file and line."""
    return _neardup.documents_from_lines(
        _batch(lines), name, _read(**fields), first_line, first_ordinal
    )


def documents_from_table(
    rows: Data, name: str, *, first_row: int = 1, first_ordinal: int = 0, **fields: Any
) -> pa.RecordBatch:
    """The documents of an Arrow table with article columns (as ``neardup scan`` reads a
    Parquet file): row ``r`` is row ``first_row + r - 1`` of ``name`` and gets ordinal
    ``first_ordinal + r - 1``; ``bytes`` is the text's bytes plus one, as the scan
    measures a table."""
    return _neardup.documents_from_table(
        _batch(rows), name, _read(**fields), first_row, first_ordinal
    )


def chrome_sample(records: int, bytes: int) -> list[tuple[int, int]]:
    """The records ``neardup scan`` learns chrome from in a corpus of ``records`` records
    of ``bytes`` input bytes (the documents table's row count and ``bytes`` sum), as
    half-open runs ``(start, end)`` of ordinals, ascending: ``[(0, records)]`` within
    the small-corpus bound (65,536 records and 64 MiB), else evenly spread runs. Their
    total length is the ``documents`` :func:`chrome_model` takes."""
    return _neardup.chrome_sample(records, bytes)


def chrome_keys(
    docs: Data, config: Config = None, sample: Optional[list[tuple[int, int]]] = None
) -> pa.RecordBatch:
    """Each document's distinct chrome keys (``key``, ``ordinal``, ``story``), for the
    documents whose ordinal lies in ``sample`` (runs from :func:`chrome_sample`; every
    document when ``None``)."""
    return _neardup.chrome_keys(_batch(docs), _config_json(config), sample)


def chrome_counts(keys: Data) -> pa.Table:
    """The per-key counts :func:`chrome_model` takes, from all of a corpus's
    :func:`chrome_keys` rows: ``key``, ``docs``, ``other_story``, ``story``."""
    table = pa.table(_batch(keys)) if isinstance(keys, pa.RecordBatch) else keys
    ordered = table.sort_by([("key", "ascending"), ("ordinal", "ascending")])
    first = ordered.group_by("key", use_threads=False).aggregate(
        [("story", "first"), ("ordinal", "count")]
    )
    first = first.rename_columns(["key", "first_story", "docs"])
    joined = ordered.join(first, "key")
    other = pc.cast(pc.not_equal(joined["story"], joined["first_story"]), pa.int64())
    others = (
        pa.table({"key": joined["key"], "other": other})
        .group_by("key")
        .aggregate([("other", "sum")])
    )
    counts = first.join(others, "key")
    return pa.table(
        {
            "key": counts["key"],
            "docs": pc.cast(counts["docs"], pa.int64()),
            "other_story": pc.cast(counts["other_sum"], pa.int64()),
            "story": counts["first_story"],
        }
    )


def chrome_model(counts: Data, documents: int, config: Config = None) -> bytes:
    """The scan's chrome model (JSON) learned from ``documents`` documents (those of the
    chrome sample) from their key counts (:func:`chrome_counts`). Raises :class:`neardup.InvalidConfig` when the corpus
    has more distinct line keys than ``boilerplate.capacity`` lets a scan count exactly."""
    return bytes(_neardup.chrome_model(_batch(counts), documents, _config_json(config)))


def sign(docs: Data, config: Config = None, chrome: Optional[bytes] = None) -> pa.RecordBatch:
    """Each document signed as the scan signs it, the lines ``chrome`` (a
    :func:`chrome_model`) calls chrome left out. Raises :class:`neardup.InvalidInput`
    (``field`` ``text``) for a text without words."""
    return _neardup.sign(_batch(docs), _config_json(config), chrome)


def collapse(signed: Data, config: Config = None) -> pa.RecordBatch:
    """Links from each signed document to its identical copies (equal ``lanes``,
    ``size`` and ``shingles``; every copy of a group must be in ``signed``, so partition
    by signature): ``a`` (the first of the group, its representative), ``b``,
    ``jaccard``, ``containment``, ``containment_rev``. Only representatives get band
    rows; these links join the copies to them, as ``neardup scan`` does."""
    return _neardup.collapse(_batch(signed), _config_json(config))


def band_rows(signed: Data, config: Config = None) -> pa.RecordBatch:
    """Every signed document's rows in the bands of both LSH views."""
    return _neardup.band_rows(_batch(signed), _config_json(config))


def candidate_pairs(rows: Data) -> pa.RecordBatch:
    """The candidate pairs of whole buckets: ``rows`` must hold every row of each bucket
    it touches (partition band rows by ``view``, ``band``, ``key``)."""
    return _neardup.candidate_pairs(_batch(rows))


def verify_pairs(pairs: Data, config: Config = None) -> pa.RecordBatch:
    """Candidate pairs with both documents' signed columns (``a_ordinal``, ``a_size``,
    ``a_published``, ``a_lanes``, ``a_shingles``, and ``b_`` the same) verified into
    links, one per pair of documents. Both ways of a pair must be in one call."""
    return _neardup.verify_pairs(_batch(pairs), _config_json(config))


def cluster_components(rows: Data, config: Config = None) -> pa.RecordBatch:
    """Whole connected components clustered: per ``component``, its documents' signed
    rows (``a`` null) and its links (``ordinal`` null). Returns the assignments."""
    return _neardup.cluster_components(_batch(rows), _config_json(config))


def contract(config: Config = None, table: str = "documents") -> dict[str, str]:
    """The metadata a file of stage table ``table`` (``documents``, ``bands``,
    ``links``, ``components``, ``assignments``) carries: ``neardup.table``,
    ``neardup.format_version``, ``neardup.hash_scheme`` and ``neardup.config`` (the
    validated config, JSON)."""
    return dict(_neardup.contract(_config_json(config), table))


def schema(table: str, config: Config = None) -> pa.Schema:
    """The Arrow schema of stage table ``table``'s files, with :func:`contract`'s
    metadata."""
    return _neardup.schema(table, _config_json(config))


def check_contract(path: str, table: str, config: Config = None) -> None:
    """Refuses the Parquet file ``path`` unless its metadata says it holds ``table``
    written under this build's format and hash scheme and under ``config``: raises
    :class:`neardup.ContractMismatch` naming the file, the key, the value expected and
    the value found. A directory of part files (as :mod:`neardup.spark` writes) is
    checked file by file, names starting with ``.`` or ``_`` skipped; one without
    part files is refused as carrying no metadata."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    filesystem, inner = (
        pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    )
    config_json = _config_json(config)
    files = [(path, inner)]
    if filesystem.get_file_info(inner).type == pafs.FileType.Directory:
        below = filesystem.get_file_info(pafs.FileSelector(inner, recursive=True))
        base = inner.rstrip("/") + "/"
        relative = {f.path: f.path.removeprefix(base) for f in below if f.is_file}
        files = sorted(
            (path.rstrip("/") + "/" + name, file)
            for file, name in relative.items()
            if not any(part.startswith((".", "_")) for part in name.split("/"))
        )
        if not files:
            _neardup.check_contract(path, {}, table, config_json)
    for name, file in files:
        found = pq.read_schema(file, filesystem=filesystem).metadata or {}
        metadata = {k.decode(): v.decode() for k, v in found.items() if k.startswith(b"neardup.")}
        _neardup.check_contract(name, metadata, table, config_json)


def components(ordinals: list[int], links: pa.Table) -> dict[int, int]:
    """Each ordinal's connected component (its smallest member) under ``links``."""
    parent = {o: o for o in ordinals}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(links["a"].to_pylist(), links["b"].to_pylist()):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {o: root(o) for o in ordinals}


def _with_prefix(table: pa.Table, prefix: str, columns: list[str]) -> list[tuple[str, Any]]:
    return [(prefix + c, table[c]) for c in columns]


_SIGNED = ["ordinal", "size", "published", "lanes", "shingles"]


def run(docs: Data, config: Config = None) -> pa.Table:
    """The whole scan in this process through the stages, as a distributed runner runs
    it: the same assignment table as :func:`neardup.scan` on the same documents (a
    reference for runners, and a test of the stages; :func:`neardup.scan` is faster).
    The corpus's bytes, which choose the chrome sample, are the ``bytes`` column's sum;
    a documents table without one is measured as the scan measures a table (each
    text's bytes plus one)."""
    docs = pa.table(docs) if isinstance(docs, pa.RecordBatch) else docs
    settings = json.loads(contract(config)["neardup.config"])
    model = None
    if settings["boilerplate"]["enabled"]:
        # The sample numbers records 0, 1, ... in input order: the ordinals' ranks.
        ranked = docs.sort_by("ordinal")
        ranked = ranked.set_column(
            ranked.schema.get_field_index("ordinal"),
            "ordinal",
            pa.array(range(ranked.num_rows), pa.int64()),
        )
        sample = chrome_sample(ranked.num_rows, _corpus_bytes(docs))
        keys = pa.table(chrome_keys(ranked, config, sample))
        sampled = sum(end - start for start, end in sample)
        model = chrome_model(chrome_counts(keys), sampled, config)
    signed = pa.table(sign(docs, config, model)).sort_by("ordinal")
    copies = pa.table(collapse(signed, config))
    reps = signed.filter(pc.invert(pc.is_in(signed["ordinal"], value_set=copies["b"])))
    pairs = pa.table(candidate_pairs(band_rows(reps, config)))
    row_of = {o: i for i, o in enumerate(signed["ordinal"].to_pylist())}
    a_rows = signed.take([row_of[a] for a in pairs["a"].to_pylist()])
    b_rows = signed.take([row_of[b] for b in pairs["b"].to_pylist()])
    wide = pa.table(
        dict(
            [("a", pairs["a"]), ("b", pairs["b"])]
            + _with_prefix(a_rows, "a_", _SIGNED)
            + _with_prefix(b_rows, "b_", _SIGNED)
        )
    )
    links = pa.concat_tables([pa.table(verify_pairs(wide, config)), copies])
    component_of = components(signed["ordinal"].to_pylist(), links)
    doc_rows = signed.select(_SIGNED).append_column(
        "component", pa.array([component_of[o] for o in signed["ordinal"].to_pylist()], pa.int64())
    )
    link_rows = links.append_column(
        "component", pa.array([component_of[a] for a in links["a"].to_pylist()], pa.int64())
    )
    rows = pa.concat_tables([doc_rows, link_rows], promote_options="default")
    assigned = pa.table(cluster_components(rows, config)).sort_by("ordinal")
    id_of = dict(zip(docs["ordinal"].to_pylist(), docs["id"].to_pylist()))
    return assignment_table(assigned, id_of)


def _corpus_bytes(docs: pa.Table) -> int:
    """The input bytes of the documents, as ``neardup scan`` counts them."""
    if "bytes" in docs.column_names:
        return pc.sum(docs["bytes"]).as_py() or 0
    text = pc.binary_length(pc.fill_null(docs["text"], ""))
    return (pc.sum(text).as_py() or 0) + docs.num_rows


def assignment_table(assigned: pa.Table, id_of: Mapping[int, str]) -> pa.Table:
    """Assignments (by ordinal) as the table ``neardup scan --out x.parquet`` writes."""
    origin = [id_of[o] for o in assigned["origin"].to_pylist()]
    link = [None if o is None else id_of[o] for o in assigned["link"].to_pylist()]
    return pa.table(
        {
            "id": [id_of[o] for o in assigned["ordinal"].to_pylist()],
            "cluster": origin,
            "origin": origin,
            "kind": assigned["kind"],
            "jaccard": assigned["jaccard"],
            "containment": assigned["containment"],
            "link_id": link,
            "link_jaccard": assigned["link_jaccard"],
            "link_containment": assigned["link_containment"],
            "link_containment_rev": assigned["link_containment_rev"],
        },
        schema=ASSIGNMENTS,
    )


#: The schema of ``neardup scan``'s Parquet assignments.
ASSIGNMENTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("cluster", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("jaccard", pa.float64(), nullable=False),
        pa.field("containment", pa.float64(), nullable=False),
        pa.field("link_id", pa.string()),
        pa.field("link_jaccard", pa.float64()),
        pa.field("link_containment", pa.float64()),
        pa.field("link_containment_rev", pa.float64()),
    ]
)
