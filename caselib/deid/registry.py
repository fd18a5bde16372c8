"""Pseudonym registries: a stable number for every patient of an archive.

A registry maps the opaque patient key computed by :meth:`Keyring.patient_key`
(an HMAC of issuer and Patient ID, never the identifier itself) to a number, handed
out in order of first appearance: 1, 2, 3...  The de-identifier formats it, e.g.
``CL-000123``.  Numbers are never reused or changed, so the prior and current
studies of one patient get the same pseudonym in every run.

Implementations
---------------
:class:`MemoryPseudonymRegistry`
    A dict; stable for the life of the object (tests, one-off runs).
:class:`SQLitePseudonymRegistry`
    One SQLite file per archive.  Race-free across threads and processes: the
    table's ``number`` is an ``INTEGER PRIMARY KEY AUTOINCREMENT`` (never reused)
    and its ``key`` is ``UNIQUE``; inside a ``BEGIN IMMEDIATE`` transaction, which
    takes SQLite's write lock, the key is looked up and inserted only if absent.
    Two processes that meet the same new patient at once therefore get the same
    number, and numbers stay contiguous.
:class:`JSONPseudonymRegistry`
    One small JSON file, for archives that prefer text.  Every assignment takes an
    exclusive ``fcntl.flock`` on ``<file>.lock``, re-reads the file, appends and
    replaces the file atomically (write to a temporary file, ``fsync``, ``rename``).
    POSIX only; use the SQLite registry for large archives.

Every registry is bound to the fingerprint of one secret (:meth:`bind`): using it
with another secret raises :class:`~caselib.deid.errors.RegistryError`, because the
keys would not match and every patient would get a new number.

Examples
--------
>>> reg = MemoryPseudonymRegistry()
>>> reg.number_for("k1"), reg.number_for("k2"), reg.number_for("k1")
(1, 2, 1)
>>> len(reg)
2
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from caselib.deid.errors import RegistryError

__all__ = [
    "PseudonymRegistry",
    "MemoryPseudonymRegistry",
    "SQLitePseudonymRegistry",
    "JSONPseudonymRegistry",
    "open_registry",
    "format_pseudonym",
]


def format_pseudonym(number: int, prefix: str = "CL-", digits: int = 6) -> str:
    """``CL-000123`` from 123.

    >>> format_pseudonym(123)
    'CL-000123'
    """
    if number < 1:
        raise ValueError(f"pseudonym numbers start at 1, got {number}")
    return f"{prefix}{number:0{digits}d}"


@runtime_checkable
class PseudonymRegistry(Protocol):
    """What the de-identifier needs from a registry."""

    def number_for(self, key: str) -> int:
        """The number of ``key``, assigning the next free one if it is new."""
        ...

    def get(self, key: str) -> int | None:
        """The number of ``key`` if it has one, else ``None`` (assigns nothing)."""
        ...

    def bind(self, fingerprint: str) -> None:
        """Bind to a secret's fingerprint; raise ``RegistryError`` if bound to another."""
        ...

    def __len__(self) -> int:
        ...


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"registry key must be a non-empty str, got {key!r}")
    return key


class MemoryPseudonymRegistry:
    """In-memory registry (thread-safe); numbers live as long as the object."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryPseudonymRegistry({len(self)} patients)"

    def number_for(self, key: str) -> int:
        _check_key(key)
        with self._lock:
            number = self._numbers.get(key)
            if number is None:
                number = len(self._numbers) + 1
                self._numbers[key] = number
            return number

    def get(self, key: str) -> int | None:
        return self._numbers.get(key)

    def bind(self, fingerprint: str) -> None:
        with self._lock:
            if self._fingerprint is None:
                self._fingerprint = fingerprint
            elif self._fingerprint != fingerprint:
                raise RegistryError(
                    "this pseudonym registry belongs to another archive secret "
                    f"(fingerprint {self._fingerprint}, got {fingerprint})"
                )

    def __len__(self) -> int:
        return len(self._numbers)


class SQLitePseudonymRegistry:
    """Registry in one SQLite file; safe for concurrent threads and processes.

    Parameters
    ----------
    path : path-like
        The database file (created if missing), e.g. ``<archive>/pseudonyms.sqlite``.
    timeout : float
        Seconds to wait for another writer's lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS pseudonyms ("
                " number INTEGER PRIMARY KEY AUTOINCREMENT,"
                " key TEXT NOT NULL UNIQUE,"
                " created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open pseudonym registry {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"SQLitePseudonymRegistry({str(self.path)!r})"

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> SQLitePseudonymRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def number_for(self, key: str) -> int:
        _check_key(key)
        with self._lock:
            row = self._db.execute("SELECT number FROM pseudonyms WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return int(row[0])
            try:
                self._db.execute("BEGIN IMMEDIATE")  # the write lock: no other writer until COMMIT
                try:
                    row = self._db.execute("SELECT number FROM pseudonyms WHERE key = ?", (key,)).fetchone()
                    if row is None:  # (INSERT OR IGNORE would burn AUTOINCREMENT numbers on conflicts)
                        cursor = self._db.execute("INSERT INTO pseudonyms(key) VALUES (?)", (key,))
                        row = (cursor.lastrowid,)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise RegistryError(f"cannot assign a pseudonym in {self.path}: {exc}") from exc
            return int(row[0])

    def get(self, key: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT number FROM pseudonyms WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def bind(self, fingerprint: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(name, value) VALUES ('secret_fingerprint', ?)", (fingerprint,)
                )
                bound = self._db.execute("SELECT value FROM meta WHERE name = 'secret_fingerprint'").fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if bound != fingerprint:
            raise RegistryError(
                f"pseudonym registry {self.path} belongs to another archive secret "
                f"(fingerprint {bound}, got {fingerprint}); use the archive's own secret file"
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM pseudonyms").fetchone()[0])


class JSONPseudonymRegistry:
    """Registry in one JSON file (``{"secret_fingerprint": ..., "numbers": {key: n}}``).

    Assignments are serialised between processes with ``fcntl.flock`` on a sibling
    ``.lock`` file and written atomically; reads of known keys use an in-memory copy.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            import fcntl  # noqa: F401
        except ImportError as exc:  # pragma: no cover - Windows
            raise RegistryError("JSONPseudonymRegistry needs POSIX file locks; use SQLitePseudonymRegistry") from exc
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._cache: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"JSONPseudonymRegistry({str(self.path)!r})"

    def _read(self) -> dict:
        if not self.path.exists():
            return {"secret_fingerprint": None, "numbers": {}}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot read pseudonym registry {self.path}: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("numbers"), dict):
            raise RegistryError(f"pseudonym registry {self.path} is malformed: expected a 'numbers' mapping")
        return doc

    def _write(self, doc: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=0, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        with self._thread_lock, open(self._lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def number_for(self, key: str) -> int:
        _check_key(key)
        number = self._cache.get(key)
        if number is not None:
            return number
        with self._locked():
            doc = self._read()
            numbers = doc["numbers"]
            number = numbers.get(key)
            if number is None:
                number = max(numbers.values(), default=0) + 1
                numbers[key] = number
                self._write(doc)
            self._cache = dict(numbers)
        return int(number)

    def get(self, key: str) -> int | None:
        number = self._cache.get(key)
        if number is None:
            number = self._read()["numbers"].get(key)
        return None if number is None else int(number)

    def bind(self, fingerprint: str) -> None:
        with self._locked():
            doc = self._read()
            bound = doc.get("secret_fingerprint")
            if bound is None:
                doc["secret_fingerprint"] = fingerprint
                self._write(doc)
            elif bound != fingerprint:
                raise RegistryError(
                    f"pseudonym registry {self.path} belongs to another archive secret "
                    f"(fingerprint {bound}, got {fingerprint}); use the archive's own secret file"
                )

    def __len__(self) -> int:
        return len(self._read()["numbers"])


def open_registry(path: str | os.PathLike[str] | None = None) -> PseudonymRegistry:
    """A registry for ``path`` by its suffix: ``.json`` JSON, anything else SQLite; ``None`` in memory.

    >>> open_registry(None)
    MemoryPseudonymRegistry(0 patients)
    """
    if path is None:
        return MemoryPseudonymRegistry()
    if Path(path).suffix.lower() == ".json":
        return JSONPseudonymRegistry(path)
    return SQLitePseudonymRegistry(path)
