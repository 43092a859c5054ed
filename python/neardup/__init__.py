"""neardup from Python: near-duplicate and syndicated copies of news articles.

- :class:`Detector` is the online engine in process: each article gets a verdict (new
  story, duplicate, partial copy), its story and the story's origin, as ``neardup serve``
  gives them.
- :func:`scan` clusters a whole corpus, files or a ``pyarrow.Table``, and returns the
  assignment table ``neardup scan --out x.parquet`` writes.
- :mod:`neardup.spark` runs the same scan on Apache Spark (``neardup-spark``).

Configs are dicts in the format of ``neardup --config`` (``DetectorConfig``): missing keys
take their defaults, unknown keys are refused. Errors are :mod:`neardup.errors`
exceptions with the library's messages.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import warnings as _warnings
from typing import Any, Iterable, Literal, Mapping, Optional, TypedDict, Union

from . import _neardup
from .errors import (
    BadFile,
    BadRecord,
    ContractMismatch,
    DuplicateId,
    InternalError,
    InvalidConfig,
    InvalidInput,
    NeardupError,
    NotFound,
    StorageError,
)

__all__ = [
    "Detector",
    "scan",
    "parse_date",
    "Verdict",
    "Match",
    "ClusterView",
    "Member",
    "Stats",
    "NeardupError",
    "InvalidConfig",
    "InvalidInput",
    "DuplicateId",
    "BadRecord",
    "BadFile",
    "ContractMismatch",
    "NotFound",
    "StorageError",
    "InternalError",
]

Kind = Literal["new_story", "duplicate", "partial_copy"]
Published = Union[int, str, _dt.datetime, _dt.date, None]
Config = Optional[Mapping[str, Any]]


class Match(TypedDict):
    """An earlier article compared with: its scores against the article."""

    id: str
    source: str
    jaccard: float
    containment: float
    containment_rev: float


class Verdict(TypedDict):
    """What the detector says about one article."""

    id: str
    kind: Kind
    cluster_id: str
    origin_id: str
    link: Optional[Match]
    origin_jaccard: float
    origin_containment: float
    matches: list[Match]
    best_jaccard: float
    best_containment: float
    chrome_ignored: list[str]


class Member(TypedDict):
    """A member of a story, with its similarity to the origin."""

    id: str
    source: str
    published: Optional[int]
    jaccard: float
    containment: float


class ClusterView(TypedDict):
    """A story and every indexed copy of it, earliest first."""

    cluster_id: str
    origin_id: str
    members: list[Member]


class Stats(TypedDict):
    """Counters of a detector."""

    documents: int
    clusters: int
    heap_bytes: int


def _config_json(config: Config) -> Optional[str]:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise InvalidConfig(
            f"invalid config: config: expected a dict, got {type(config).__name__}", field="config"
        )
    return _json.dumps(dict(config))


def parse_date(text: str) -> Optional[int]:
    """A date as ``neardup scan`` reads it (RFC 3339, ``YYYY-MM-DD``, epoch numbers, ...)
    in Unix milliseconds; ``None`` for an empty string. Raises :class:`InvalidInput`."""
    return _neardup.parse_date(text)


def _millis(published: Published) -> Optional[int]:
    """Unix milliseconds of a publication time; a naive datetime is taken as UTC."""
    if published is None:
        return None
    if isinstance(published, bool):
        raise InvalidInput("invalid published: expected a date, got a bool", field="published")
    if isinstance(published, int):
        return published
    if isinstance(published, str):
        return parse_date(published)
    if isinstance(published, _dt.datetime):
        if published.tzinfo is None:
            published = published.replace(tzinfo=_dt.timezone.utc)
        return int(published.timestamp() * 1000)
    if isinstance(published, _dt.date):
        return _millis(_dt.datetime(published.year, published.month, published.day))
    raise InvalidInput(
        "invalid published: expected Unix milliseconds, a date string or a datetime, "
        f"got {type(published).__name__}",
        field="published",
    )


class Detector:
    """The online detector, in process: thread-safe, and the GIL is released while an
    article is fingerprinted and matched.

    >>> d = Detector()
    >>> text = "The central bank raised its key interest rate by half a point on Thursday, " \\
    ...        "the largest increase in two decades, and said further rises were likely."
    >>> d.ingest("wire-1", text)["kind"]
    'new_story'
    >>> v = d.ingest("outlet-7", "Home > Business\\n" + text)
    >>> (v["kind"], v["cluster_id"])
    ('duplicate', 'wire-1')
    """

    def __init__(self, config: Config = None) -> None:
        """A detector with ``config`` (a ``neardup --config`` dict; defaults if ``None``).
        Raises :class:`InvalidConfig`."""
        self._inner = _neardup.Detector(_config_json(config))

    @property
    def config(self) -> dict[str, Any]:
        """The validated config, every key filled in."""
        return _json.loads(self._inner.config_json())

    def ingest(
        self, id: str, text: str, source: Optional[str] = None, published: Published = None
    ) -> Verdict:
        """Labels the article and stores it: the verdict names its story and the story's
        origin. ``published`` is Unix milliseconds, a date string or a datetime (naive is
        UTC). Raises :class:`InvalidInput` (``field`` says which) or :class:`DuplicateId`."""
        return _json.loads(self._inner.ingest(id, text, source or "", _millis(published)))

    def check(
        self, id: str, text: str, source: Optional[str] = None, published: Published = None
    ) -> Verdict:
        """The verdict :meth:`ingest` would give, without storing the article."""
        return _json.loads(self._inner.check(id, text, source or "", _millis(published)))

    def remove(self, id: str) -> bool:
        """Forgets an article; ``False`` if it was not there."""
        return self._inner.remove(id)

    def cluster(self, id: str) -> ClusterView:
        """The story of a story id or of any member's id. Raises :class:`NotFound`."""
        return _json.loads(self._inner.cluster(id))

    def stats(self) -> Stats:
        """Articles, stories and approximate heap bytes."""
        return _json.loads(self._inner.stats())

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and id in self._inner

    def __repr__(self) -> str:
        return f"<neardup.Detector: {len(self)} articles>"


PathLike = Union[str, "_os.PathLike[str]"]


def scan(
    inputs: Union[PathLike, Iterable[PathLike], Any],
    config: Config = None,
    *,
    id_field: str = "id",
    text_field: str = "text",
    date_field: str = "date",
    source_field: str = "source",
    date_format: Optional[str] = None,
    skip_invalid: bool = False,
) -> Any:
    """Clusters a corpus as ``neardup scan`` does and returns its assignment table (a
    ``pyarrow.Table``, one row per article in input order) with the columns of
    ``neardup scan --out x.parquet``: ``id``, ``cluster``, ``origin``, ``kind``,
    ``jaccard``, ``containment``, ``link_id``, ``link_jaccard``, ``link_containment``,
    ``link_containment_rev``.

    ``inputs`` is a path, a list of paths (files in any format ``neardup scan`` reads;
    directories expand to their files), or a ``pyarrow.Table`` / ``RecordBatch`` (or
    anything with ``__arrow_c_stream__``) holding the id, text and optionally date and
    source columns, read as the rows of a Parquet file. Notes that are not errors (an
    undated input) become Python warnings; so do the records ``skip_invalid`` left out.
    Raises :class:`BadRecord`, :class:`BadFile`, :class:`InvalidConfig`.
    """
    read = {
        "id_field": id_field,
        "text_field": text_field,
        "date_field": date_field,
        "source_field": source_field,
        "date_format": date_format,
        "skip_invalid": skip_invalid,
    }
    config_json = _config_json(config)
    if isinstance(inputs, (str, _os.PathLike)):
        table, notes, rejects = _neardup.scan_paths([_os.fspath(inputs)], config_json, read)
    elif hasattr(inputs, "__arrow_c_stream__") or hasattr(inputs, "to_batches"):
        table, notes, rejects = _neardup.scan_table(_as_table(inputs), "<table>", config_json, read)
    else:
        paths = [_os.fspath(p) for p in inputs]
        table, notes, rejects = _neardup.scan_paths(paths, config_json, read)
    for note in notes:
        _warnings.warn(note, stacklevel=2)
    for reject in rejects:
        _warnings.warn(f"skipped: {reject}", stacklevel=2)
    return table


def _as_table(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data
    return pa.table(data)
