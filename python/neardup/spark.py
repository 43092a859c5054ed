"""neardup on Apache Spark: the assignments of ``neardup scan`` for corpora past one
machine, the same answer at any partitioning.

Spark moves rows (group-bys, joins, shuffles, connected components by large-star /
small-star in DataFrame operations); every decision is neardup's, made by the stages of
:mod:`neardup.arrow` through ``mapInArrow``, one Rust call per partition:

1. **documents**: each input read in order (JSONL as text lines, Parquet as rows) and
   parsed by neardup's own readers, ordinals following input order;
2. **chrome**: the line keys of the documents the scan learns chrome from (all of a
   corpus within its small-corpus bound, an evenly spread sample of a larger one,
   chosen from the record and byte counts as the scan chooses it), counted per key in
   a group-by; the counts make the scan's chrome model on the driver, broadcast to the
   signers;
3. **sign**: MinHash signatures, chrome lines left out;
4. **collapse**: documents whose signature hash repeats partitioned by it, each
   identical copy linked to the first of its group (its representative), which alone
   gets band rows;
5. **band rows** grouped by bucket: **candidate pairs**;
6. pairs joined with both documents' signatures and grouped by pair: **links**;
7. **connected components** of the links and the copies' links (large-star /
   small-star);
8. each component's documents and links in one partition: **clusters** and origins;
9. ids joined back; written as Parquet and JSONL, in input order, and the assignments
   by ordinal as a stage table with the contract's metadata (``out/stages/``).

``neardup-spark INPUT... --out DIR`` runs it on ``local[*]`` (or on the cluster of
``spark-submit``); :func:`run` runs it in an existing session. ``neardup-spark
--emitted SIGNED --out DIR`` starts at step 4 from the stage tables ``neardup scan
--emit-parquet SIGNED`` wrote on one machine (``docs/stage-tables.md``), refusing
tables written under another format, hash scheme or config.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import pyarrow as pa

from . import NeardupError, _config_json, _neardup, errors
from . import arrow as na

__all__ = ["run", "main", "session", "write_stage"]

Config = Optional[Mapping[str, Any]]

_DOCS = "ordinal long, id string, text string, source string, published long, bytes long"
# A JSONL line that is no record, as `neardup scan` reads lines: ASCII whitespace only.
_BLANK = r"^[ \t\n\f\r]*$"
# Repeated signature hashes (8 bytes each) broadcast to every executor at most.
_BROADCAST_SIGNATURES = 2_000_000
_KEYS = "key long, ordinal long, story int"
_SIGNED = (
    "ordinal long, size int, published long, lanes array<int>, shingles array<int>, chrome int"
)
_ROWS = "view byte, band int, key long, ordinal long, size int"
_PAIRS = "a long, b long"
_LINKS = "a long, b long, jaccard double, containment double, containment_rev double"
_ASSIGNED = (
    "ordinal long, origin long, kind string, jaccard double, containment double, link long, "
    "link_jaccard double, link_containment double, link_containment_rev double"
)


def session(master: str = "local[*]", partitions: Optional[int] = None, app: str = "neardup"):
    """The active Spark session, or a new one on ``master`` bound to loopback with the UI
    off (workers run this Python: ``PYSPARK_PYTHON`` defaults to it)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        if partitions:
            active.conf.set("spark.sql.shuffle.partitions", str(partitions))
        return active
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "8192")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    return builder.getOrCreate()


def _files(path: str) -> list[str]:
    """A path's input files: a directory gives every file below it, sorted, skipping
    names that start with ``.`` or ``_`` (as ``neardup scan`` does). A URI
    (``hdfs://...``, ``s3a://...``) is one file, read by Spark."""
    if "://" in path and not path.startswith("file://"):
        return [path]
    p = Path(path.removeprefix("file://"))
    if not p.exists():
        raise errors.StorageError(f"{path}: No such file or directory", path=path)
    if p.is_dir():
        found = sorted(
            str(f)
            for f in p.rglob("*")
            if f.is_file() and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts)
        )
        if not found:
            raise errors.BadFile(f"{path}: the directory holds no input files", path=path)
        return found
    return [str(p)]


def _kind(path: str) -> str:
    name = Path(path).name.lower()
    # Spark reads gzip streams itself (zstd needs Hadoop's native library).
    name = name.removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise errors.BadFile(
        f"{path}: neardup-spark reads JSONL (.jsonl, .ndjson, .json with one object a "
        "line) and Parquet (.parquet); convert other formats or use neardup scan",
        path=path,
    )


def _documents(spark, path: str, base: int, read: dict):
    """The documents of one input, ordinals from ``base`` numbering its records as the
    scan does (blank lines are none); and its record count. Each partition's place in
    the file (its first line and first record) comes from a count per partition (its
    index taken where the file is read, which a union later does not renumber)."""
    from pyspark.sql import functions as F

    kind = _kind(path)
    df = spark.read.text(path) if kind == "jsonl" else spark.read.parquet(path)
    df = df.withColumn("_part", F.spark_partition_id())
    record = ~F.col("value").rlike(_BLANK) if kind == "jsonl" else F.lit(True)
    counts = {
        row["_part"]: (row["lines"], row["records"])
        for row in df.groupBy("_part")
        .agg(F.count("*").alias("lines"), F.count(F.when(record, 1)).alias("records"))
        .collect()
    }
    starts, lines, records = {}, 0, 0
    for part in sorted(counts):
        starts[part] = (lines, records)
        lines += counts[part][0]
        records += counts[part][1]

    def convert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        line = first = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if line is None:
                line, first = starts[batch.column("_part")[0].as_py()]
            if kind == "jsonl":
                docs = _neardup.documents_from_lines(batch, path, read, line + 1, base + first)
            else:
                docs = _neardup.documents_from_table(batch, path, read, line + 1, base + first)
            line += batch.num_rows
            first += docs.num_rows
            yield docs

    return df.mapInArrow(convert, _DOCS), records


def _whole(batches: Iterator[pa.RecordBatch]) -> Optional[pa.RecordBatch]:
    """A partition's batches as one (a bucket, a pair, a component may span batches);
    ``None`` for an empty partition."""
    batches = [b for b in batches if b.num_rows]
    if not batches:
        return None
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _output(path: str) -> tuple[Any, str]:
    """The pyarrow filesystem of output path ``path`` (a local path, or a URI pyarrow
    opens: ``hdfs://``, ``s3://``, ``gs://``) and the path inside it."""
    import pyarrow.fs as pafs

    if "://" in path and not path.startswith("file://"):
        try:
            return pafs.FileSystem.from_uri(path)
        except (pa.ArrowException, OSError) as e:
            raise errors.StorageError(
                f"{path}: the stage tables are written with pyarrow, which cannot open it: {e}",
                path=path,
            ) from e
    return pafs.LocalFileSystem(), str(Path(path.removeprefix("file://")).absolute())


def write_stage(df, path: str, table: str, config: Config = None) -> int:
    """Writes ``df`` to ``path`` as stage table ``table`` of ``docs/stage-tables.md``:
    a directory of part files (emptied first), one per partition in partition order,
    each written by its Spark task with pyarrow under the contract's schema and footer
    metadata (table, format version, hash scheme, ``config``), which Spark's own
    Parquet writer cannot set. A table without rows still gets one file, for its
    schema. Returns the rows written."""
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    config_json = _config_json(config)
    schema = _neardup.schema(table, config_json)
    filesystem, directory = _output(path)
    filesystem.create_dir(directory, recursive=True)
    filesystem.delete_dir_contents(directory)

    def write_part(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # A retried task writes the same rows to the same name again.
        filesystem, directory = _output(path)
        name = f"{directory}/part-{TaskContext.get().partitionId():05d}.parquet"
        writer, rows = None, 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(name, schema, filesystem=filesystem, compression="zstd")
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            rows += batch.num_rows
        if writer is not None:
            writer.close()
            yield pa.RecordBatch.from_pydict({"rows": pa.array([rows], pa.int64())})

    written = df.select(*schema.names).mapInArrow(write_part, "rows long").collect()
    if not written:
        pq.write_table(schema.empty_table(), f"{directory}/part-00000.parquet", filesystem=filesystem)
    return sum(row["rows"] for row in written)


def _large_star(edges, F):
    both = edges.unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v"))).distinct()
    low = both.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    return (
        both.join(low, "u")
        .where(F.col("v") > F.col("u"))
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
        .distinct()
    )


def _small_star(edges, F):
    oriented = edges.select(
        F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v")
    ).where(F.col("u") != F.col("v"))
    low = oriented.groupBy("u").agg(F.min("v").alias("m"))
    members = oriented.join(low, "u").select(F.col("v").alias("u"), F.col("m").alias("v"))
    return members.unionByName(low.select("u", F.col("m").alias("v"))).where(
        F.col("u") != F.col("v")
    ).distinct()


def components(links, F):
    """Each linked document's component (its smallest ordinal), by alternating
    large-star and small-star until the edges stop changing (Kiveris et al., 2014):
    a logarithmic number of rounds of plain DataFrame operations."""
    edges = links.select(F.col("a").alias("u"), F.col("b").alias("v")).distinct()
    edges = edges.localCheckpoint()
    while True:
        stepped = _small_star(_large_star(edges, F), F).localCheckpoint()
        changed = stepped.exceptAll(edges).limit(1).count() + edges.exceptAll(stepped).limit(1).count()
        edges = stepped
        if changed == 0:
            break
    # Converged: every edge joins a member (u) to its component's smallest ordinal (v).
    members = edges.select(F.col("u").alias("ordinal"), F.col("v").alias("component"))
    roots = edges.select(F.col("v").alias("ordinal"), F.col("v").alias("component"))
    return members.unionByName(roots).distinct()


@contextlib.contextmanager
def _worker_errors() -> Iterator[None]:
    """A neardup error raised in a Spark worker as the same exception here: Spark
    reports it as a ``PythonException`` holding the worker's traceback."""
    from pyspark.errors import PythonException

    try:
        yield
    except PythonException as e:
        found = re.findall(r"neardup\.errors\.(\w+): (.*)", str(e))
        if not found:
            raise
        name, message = found[-1]
        raise getattr(errors, name, errors.NeardupError)(message.strip()) from None


def run(
    spark,
    inputs: Sequence[str],
    out: Optional[str] = None,
    config: Config = None,
    **options: Any,
) -> dict[str, Any]:
    """Clusters ``inputs`` (JSONL or Parquet files, or directories of them, in order) as
    ``neardup scan`` does, on ``spark``; or, with ``emitted`` (and no inputs), the signed
    documents and band rows ``neardup scan --emit-parquet`` wrote to that directory,
    skipping reading and signing (their contract is checked against ``config``). With
    ``out``, writes ``out/assignments.parquet`` and ``out/assignments.jsonl`` (the
    output of ``neardup scan``, by id: directories of part files, rows in input order)
    and ``out/stages/assignments.parquet``, the assignments by ordinal as a stage table
    of ``docs/stage-tables.md`` carrying the contract's metadata (checked by
    :func:`neardup.arrow.check_contract`); with ``keep_stages``, also the stage tables
    ``out/stages/links.parquet`` and ``out/stages/components.parquet``.
    Returns a summary: documents, clusters, identical copies collapsed, band rows,
    candidate pairs, links (the copies' included), seconds per stage, and the
    assignments as a Spark DataFrame (``"assignments"``).

    Options: ``partitions`` (shuffle partitions; default the session's: the answer is
    the same at any number), ``id_field``, ``text_field``, ``date_field``,
    ``source_field``, ``date_format`` (as ``neardup scan``'s flags), ``keep_stages``.
    Raises the :mod:`neardup.errors` exceptions, also for what a worker found."""
    with _worker_errors():
        return _run(spark, inputs, out, config, **options)


def _read_and_sign(spark, inputs: Sequence[str], config: Config, read: dict, lap):
    """Reads ``inputs`` into documents, learns chrome (from the records ``neardup scan``
    would learn it from: :func:`neardup.arrow.chrome_sample` of the corpus's record and
    byte counts) and signs: the documents' ``ordinal`` and ``id``, the signed table
    (persisted) and the document count."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    config_json = _config_json(config)
    settings = json.loads(_neardup.contract(config_json)["neardup.config"])
    files = [f for path in inputs for f in _files(path)]
    docs, base = None, 0
    for path in files:
        part, rows = _documents(spark, path, base, read)
        docs = part if docs is None else docs.unionByName(part)
        base += rows
    if docs is None:
        raise errors.BadFile("no inputs given", path="")
    if base >= 2**32:
        raise errors.InvalidInput("invalid input: more than 2^32 records", field="inputs")
    docs = docs.persist(StorageLevel.MEMORY_AND_DISK)
    measure = docs.agg(F.count("*").alias("records"), F.sum("bytes").alias("bytes")).first()
    documents, corpus_bytes = measure["records"], measure["bytes"] or 0
    repeated = docs.groupBy("id").count().where(F.col("count") > 1).limit(1).collect()
    if repeated:
        seen = docs.where(F.col("id") == repeated[0]["id"]).orderBy("ordinal").limit(2).collect()
        raise errors.DuplicateId(
            f'duplicate id "{repeated[0]["id"]}": records {seen[0]["ordinal"] + 1} and '
            f'{seen[1]["ordinal"] + 1} of the inputs',
            id=repeated[0]["id"],
        )
    lap("read")

    chrome = None
    if settings["boilerplate"]["enabled"]:
        # Every record is a document, numbered from 0 without gaps: the sample's
        # ordinals are the scan's record numbers, and it holds as many documents as
        # records.
        sample = na.chrome_sample(documents, corpus_bytes)
        sampled = sum(end - start for start, end in sample)

        def keys_of(batches):
            for batch in batches:
                yield _neardup.chrome_keys(batch, config_json, sample)

        keys = docs.mapInArrow(keys_of, _KEYS)
        firsts = keys.groupBy("key").agg(
            F.count("*").alias("docs"), F.min_by("story", "ordinal").alias("story")
        )
        same = keys.groupBy("key", "story").agg(F.count("*").alias("same"))
        counts = firsts.join(same, ["key", "story"]).select(
            "key", "docs", (F.col("docs") - F.col("same")).alias("other_story"), "story"
        )
        chrome = na.chrome_model(counts.toArrow(), sampled, config)
        lap("chrome")
    model = spark.sparkContext.broadcast(chrome)

    def sign_part(batches):
        for batch in batches:
            yield _neardup.sign(batch, config_json, model.value)

    signed = docs.mapInArrow(sign_part, _SIGNED).persist(StorageLevel.MEMORY_AND_DISK)
    signed.count()
    lap("sign")

    # The texts are not needed past signing: keep the ids only, so that the stages
    # after this one have the memory the texts held.
    ids = docs.select("ordinal", "id").persist(StorageLevel.MEMORY_AND_DISK)
    ids.count()
    docs.unpersist()
    return ids, signed, documents


def _emitted(spark, directory: str, config: Config):
    """The stage tables ``neardup scan --emit-parquet`` wrote to ``directory``, checked
    against the contract under ``config``: the documents' ``ordinal`` and ``id``, the
    signed table (persisted), the document count, and the band rows."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    base = directory.rstrip("/")
    paths = {table: f"{base}/{table}.parquet" for table in ("documents", "bands")}
    for table, path in paths.items():
        if "://" not in path and not Path(path).exists():
            raise errors.BadFile(f"{path}: No such file or directory", path=path)
        na.check_contract(path, table, config)
    table = spark.read.parquet(paths["documents"])
    signed = table.select(
        "ordinal", "size", "published", "lanes", "shingles", F.lit(0).cast("int").alias("chrome")
    ).persist(StorageLevel.MEMORY_AND_DISK)
    documents = signed.count()
    rows = spark.read.parquet(paths["bands"]).select("view", "band", "key", "ordinal", "size")
    return table.select("ordinal", "id"), signed, documents, rows


def _run(
    spark,
    inputs: Sequence[str],
    out: Optional[str] = None,
    config: Config = None,
    *,
    partitions: Optional[int] = None,
    id_field: str = "id",
    text_field: str = "text",
    date_field: str = "date",
    source_field: str = "source",
    date_format: Optional[str] = None,
    emitted: Optional[str] = None,
    keep_stages: bool = False,
) -> dict[str, Any]:
    """The body of :func:`run`."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    config_json = _config_json(config)
    read = na._read(id_field, text_field, date_field, source_field, date_format)
    if partitions:
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = round(now - clock[0], 3)
        clock[0] = now

    if out is not None:
        # Refused before the job runs, not after it.
        _output(f"{str(out).rstrip('/')}/stages")
    if emitted is not None:
        if inputs:
            raise errors.InvalidInput(
                "invalid inputs: give input files or an emitted directory, not both",
                field="inputs",
            )
        ids, signed, documents, emitted_rows = _emitted(spark, emitted, config)
        lap("read")
    else:
        ids, signed, documents = _read_and_sign(spark, inputs, config, read, lap)
        emitted_rows = None

    def collapse_part(batches):
        whole = _whole(batches)
        if whole is not None:
            yield _neardup.collapse(whole, config_json)

    # Only documents whose signature hash repeats can be copies: counting the hashes
    # shuffles 16 bytes a distinct one, and the repeated ones, broadcast unless there are
    # millions, pick the documents to move without shuffling the others. Equal signatures
    # meet in one partition, where the Rust stage compares them whole, so a hash
    # collision only puts two groups in one call.
    keyed = signed.withColumn("signature", F.xxhash64("lanes", "size"))
    repeated = (
        keyed.groupBy("signature")
        .count()
        .where(F.col("count") > 1)
        .select("signature")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    if repeated.count() <= _BROADCAST_SIGNATURES:
        repeated = F.broadcast(repeated)
    copies = (
        keyed.join(repeated, "signature", "left_semi")
        .repartition(parts, "signature")
        .select("ordinal", "size", "published", "lanes", "shingles")
        .mapInArrow(collapse_part, _LINKS)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    copy_count = copies.count()
    representatives = signed.join(copies.select(F.col("b").alias("ordinal")), "ordinal", "left_anti")
    lap("collapse")

    band_rows = spark.sparkContext.accumulator(0)

    def bands_of(batches):
        for batch in batches:
            yield _neardup.band_rows(batch, config_json)

    def pairs_of(batches):
        whole = _whole(batches)
        if whole is not None:
            band_rows.add(whole.num_rows)
            yield _neardup.candidate_pairs(whole)

    if emitted_rows is None:
        rows = representatives.mapInArrow(bands_of, _ROWS)
    else:
        # Written for the representatives only, as the scan collapses.
        rows = emitted_rows
    pairs = rows.repartition(parts, "view", "band", "key").mapInArrow(pairs_of, _PAIRS)
    pairs = pairs.persist(StorageLevel.MEMORY_AND_DISK)
    candidates = pairs.count()
    lap("candidates")

    def side(prefix: str):
        return signed.select(
            *[F.col(c).alias(prefix + c) for c in ("ordinal", "size", "published", "lanes", "shingles")]
        )

    wide = (
        pairs.join(side("a_"), F.col("a") == F.col("a_ordinal"))
        .join(side("b_"), F.col("b") == F.col("b_ordinal"))
        .withColumn("lo", F.least("a", "b"))
        .withColumn("hi", F.greatest("a", "b"))
        .repartition(parts, "lo", "hi")
        .drop("lo", "hi")
    )
    wide_columns = ["a", "b"] + [
        side + c for side in ("a_", "b_") for c in ("ordinal", "size", "published", "lanes", "shingles")
    ]

    def verify_part(batches):
        whole = _whole(batches)
        if whole is not None:
            yield _neardup.verify_pairs(whole, config_json)

    links = wide.select(*wide_columns).mapInArrow(verify_part, _LINKS).unionByName(copies)
    links = links.persist(StorageLevel.MEMORY_AND_DISK)
    link_count = links.count()
    lap("verify")

    component_of = components(links, F).persist(StorageLevel.MEMORY_AND_DISK)
    component_of.count()
    lap("components")

    doc_rows = signed.join(component_of, "ordinal").select(
        "component", "ordinal", "size", "published", "lanes", "shingles"
    )
    link_rows = links.join(component_of.withColumnRenamed("ordinal", "a"), "a")
    grouped = doc_rows.unionByName(link_rows, allowMissingColumns=True)
    group_columns = [
        "component", "ordinal", "size", "published", "lanes", "shingles",
        "a", "b", "jaccard", "containment", "containment_rev",
    ]

    def cluster_part(batches):
        whole = _whole(batches)
        if whole is not None:
            yield _neardup.cluster_components(whole, config_json)

    clustered = (
        grouped.select(*group_columns)
        .repartition(parts, "component")
        .mapInArrow(cluster_part, _ASSIGNED)
    )
    alone = signed.join(component_of, "ordinal", "left_anti").select(
        "ordinal",
        F.col("ordinal").alias("origin"),
        F.lit("new_story").alias("kind"),
        F.lit(1.0).alias("jaccard"),
        F.lit(1.0).alias("containment"),
        F.lit(None).cast("long").alias("link"),
        F.lit(None).cast("double").alias("link_jaccard"),
        F.lit(None).cast("double").alias("link_containment"),
        F.lit(None).cast("double").alias("link_containment_rev"),
    )
    # Persisted: the ids are joined to it, and the stage table is written from it.
    assigned = clustered.unionByName(alone).persist(StorageLevel.MEMORY_AND_DISK)
    named = (
        assigned.join(ids, "ordinal")
        .join(ids.select(F.col("ordinal").alias("origin"), F.col("id").alias("origin_id")), "origin")
        .join(
            ids.select(F.col("ordinal").alias("link"), F.col("id").alias("link_id")),
            "link",
            "left",
        )
        .orderBy("ordinal")
        .select(
            "id",
            F.col("origin_id").alias("cluster"),
            F.col("origin_id").alias("origin"),
            "kind",
            "jaccard",
            "containment",
            "link_id",
            "link_jaccard",
            "link_containment",
            "link_containment_rev",
        )
    ).persist(StorageLevel.MEMORY_AND_DISK)
    clusters = named.where(F.col("id") == F.col("origin")).count()
    lap("cluster")

    if out is not None:
        named.write.mode("overwrite").parquet(str(Path(out) / "assignments.parquet"))
        link = F.when(
            F.col("link_id").isNotNull(),
            F.struct(
                F.col("link_id").alias("id"),
                F.col("link_jaccard").alias("jaccard"),
                F.col("link_containment").alias("containment"),
                F.col("link_containment_rev").alias("containment_rev"),
            ),
        )
        named.select(
            "id", "cluster", "origin", "kind", "jaccard", "containment", link.alias("link")
        ).write.mode("overwrite").json(str(Path(out) / "assignments.jsonl"))
        stages = f"{str(out).rstrip('/')}/stages"
        by_ordinal = assigned.orderBy("ordinal")
        write_stage(by_ordinal, f"{stages}/assignments.parquet", "assignments", config)
        if keep_stages:
            write_stage(links, f"{stages}/links.parquet", "links", config)
            write_stage(component_of, f"{stages}/components.parquet", "components", config)
        lap("write")
    return {
        "documents": documents,
        "clusters": clusters,
        "copies": copy_count,
        "band_rows": band_rows.value,
        "candidate_pairs": candidates,
        "links": link_count,
        "seconds": seconds,
        "assignments": named,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``neardup-spark INPUT... --out DIR``: prints a JSON summary; exit code 2 with the
    error's message for bad input, as ``neardup scan`` does."""
    parser = argparse.ArgumentParser(
        prog="neardup-spark",
        description="Near-duplicate and syndicated news articles on Apache Spark: the "
        "assignments of `neardup scan`, written as Parquet and JSONL.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="JSONL or Parquet files or directories, in order")
    parser.add_argument(
        "--emitted",
        metavar="DIR",
        help="start from the stage tables `neardup scan --emit-parquet DIR` wrote, instead of inputs",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="writes DIR/assignments.parquet, DIR/assignments.jsonl and the stage table "
        "DIR/stages/assignments.parquet",
    )
    parser.add_argument(
        "--keep-stages",
        action="store_true",
        help="also write the links and components stage tables to DIR/stages/",
    )
    parser.add_argument("--config", metavar="FILE", help="detector settings, the JSON of `neardup --config`")
    parser.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    parser.add_argument("--partitions", type=int, default=None, help="shuffle partitions")
    parser.add_argument("--id-field", default="id")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--date-field", default="date")
    parser.add_argument("--source-field", default="source")
    parser.add_argument("--date-format", default=None)
    args = parser.parse_args(argv)
    if not args.inputs and args.emitted is None:
        parser.error("give INPUT files or --emitted DIR")
    try:
        config = None
        if args.config:
            try:
                config = json.loads(Path(args.config).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise errors.InvalidConfig(f"{args.config}: invalid config: {e}", field="config") from e
        master = args.master or os.environ.get("MASTER") or _submitted_master() or "local[*]"
        spark = session(master, args.partitions)
        summary = run(
            spark,
            args.inputs,
            args.out,
            config,
            partitions=args.partitions,
            id_field=args.id_field,
            text_field=args.text_field,
            date_field=args.date_field,
            source_field=args.source_field,
            date_format=args.date_format,
            emitted=args.emitted,
            keep_stages=args.keep_stages,
        )
    except NeardupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary.pop("assignments")
    print(json.dumps(summary))
    return 0


def _submitted_master() -> Optional[str]:
    """The master spark-submit set, if this runs under it."""
    from pyspark import SparkConf

    return SparkConf().get("spark.master", None)


if __name__ == "__main__":
    sys.exit(main())
