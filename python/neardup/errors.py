"""The exceptions neardup raises, one class per kind of library error.

Every class derives from :class:`NeardupError`; the ones the caller can fix also derive
from the matching built-in (``ValueError``, ``KeyError``, ``OSError``), so existing
``except ValueError`` code keeps working. The message is the library's own.
"""

from __future__ import annotations

__all__ = [
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


class NeardupError(Exception):
    """Base class of every neardup error."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        for name, value in fields.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return self.message


class InvalidConfig(NeardupError, ValueError):
    """A config value is out of range or inconsistent; ``field`` names it."""

    field: str


class InvalidInput(NeardupError, ValueError):
    """An article field is unusable; ``field`` names it (``id``, ``text``, ``published``...)."""

    field: str


class DuplicateId(NeardupError, ValueError):
    """The same id was given twice with different content; ``id`` is the id."""

    id: str


class BadRecord(NeardupError, ValueError):
    """A malformed record of an input: ``path`` and ``line`` (or ``row`` for Arrow and Parquet)."""

    path: str


class BadFile(NeardupError, ValueError):
    """An input that cannot be read as a whole (format, missing column); ``path`` names it."""

    path: str


class ContractMismatch(NeardupError, ValueError):
    """A stage table written under another contract than the reader's: ``path`` (the
    file), ``key`` (the metadata key, or the config setting as
    ``neardup.config.<name>``), ``expected`` (the reader's value) and ``found``."""

    path: str
    key: str
    expected: str
    found: str


class NotFound(NeardupError, KeyError):
    """An id that is not there: ``what`` (``cluster``, ``article``) and ``id``."""

    what: str
    id: str

    def __str__(self) -> str:
        # KeyError would quote the message.
        return self.message


class StorageError(NeardupError, OSError):
    """An I/O failure on ``path``."""

    path: str


class InternalError(NeardupError):
    """A bug or a failed worker, not the caller's fault."""
