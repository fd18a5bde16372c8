"""The :class:`Catalog`: SQLite index of the archive and of its teaching cases."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from caselib.catalog import _bitmap, _index
from caselib.catalog.records import (
    CaseNotFoundError,
    CaseRecord,
    CatalogError,
    CatalogSchemaError,
    Difficulty,
    FullTextUnavailableError,
    InstanceRecord,
    OrganSystem,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
)
from caselib.catalog.schema import SCHEMA_VERSION, current_version, migrate
from caselib.catalog.text import build_fts_query

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "CATALOG_FILENAME",
    "Catalog",
    "CaseRow",
    "SeriesRow",
    "SearchResult",
    "CaseLeaf",
    "TopicNode",
    "SystemNode",
    "CaseTree",
    "CatalogSummary",
    "format_catalog_summary",
    "resolve_catalog_path",
]

CATALOG_FILENAME = "catalog.sqlite"
"""File name of the catalog inside an archive folder."""

RowT = TypeVar("RowT")
PathLike = str | Path


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CaseRow:
    """One teaching case as returned by :meth:`Catalog.search` and :meth:`Catalog.get_case`.

    ``tags`` and ``modalities`` are sorted; ``series_uids`` keep the case's
    order; ``score`` is the FTS5 bm25 rank (lower is better) or None without text.
    """

    case_id: str
    title_en: str
    title_zh: str
    organ_system: OrganSystem
    diagnosis_en: str | None
    diagnosis_zh: str | None
    difficulty: Difficulty
    synthetic: bool
    tags: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    score: float | None = None


@dataclass(frozen=True)
class SeriesRow:
    """One series as returned by :meth:`Catalog.search_series`."""

    series_uid: str
    study_uid: str
    patient_pseudonym: str
    study_date: str | None
    modality: str
    body_part: str | None
    description: str | None
    n_instances: int
    score: float | None = None


@dataclass(frozen=True)
class SearchResult(Generic[RowT]):
    """A page of hits, the size of the whole filtered set and its facet counts.

    ``facets`` maps a facet name to ``{value: count}`` over the *whole*
    filtered set (not only this page).  For cases the facets are
    ``'organ_system'`` (all nine codes, in tree order, zeros included),
    ``'difficulty'`` (all three), ``'modality'`` (values present, most
    frequent first; a case with CT and MR series counts once under each) and
    ``'tags'`` (tags present, most frequent first).
    """

    rows: list[RowT]
    total: int
    facets: dict[str, dict[str, int]]

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (imports pandas)."""
        import dataclasses

        import pandas as pd

        return pd.DataFrame([{k: (v.value if isinstance(v, (OrganSystem, Difficulty)) else v)
                              for k, v in dataclasses.asdict(r).items()}  # type: ignore[call-overload]
                             for r in self.rows])


class CaseLeaf(NamedTuple):
    """A case in the tree (a named tuple: 80,000 of them build fast).

    In unknown mode ``title_en``/``title_zh`` are None and the labels are
    neutral ("Case 17" / "病例 17").  ``case_id`` is kept so that a browser can
    open the case; do not display it in unknown mode (it may be descriptive).
    """

    case_id: str
    number: int
    label_en: str
    label_zh: str
    difficulty: Difficulty
    synthetic: bool
    title_en: str | None = None
    title_zh: str | None = None


@dataclass(frozen=True)
class TopicNode:
    """A diagnosis/topic under an organ system (one neutral node in unknown mode)."""

    label_en: str
    label_zh: str
    cases: tuple[CaseLeaf, ...]


@dataclass(frozen=True)
class SystemNode:
    """An organ system and its topics."""

    system: OrganSystem
    topics: tuple[TopicNode, ...]

    @property
    def n_cases(self) -> int:
        """Cases under this system."""
        return sum(len(t.cases) for t in self.topics)


@dataclass(frozen=True)
class CaseTree:
    """The case tree: organ system -> diagnosis/topic -> case."""

    systems: tuple[SystemNode, ...]
    unknown_mode: bool

    @property
    def n_cases(self) -> int:
        """Cases in the whole tree."""
        return sum(s.n_cases for s in self.systems)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (JSON-ready) for a widget or an API."""
        return {
            "unknown_mode": self.unknown_mode,
            "systems": [{
                "code": s.system.value, "label_en": s.system.label_en, "label_zh": s.system.label_zh,
                "n_cases": s.n_cases,
                "topics": [{
                    "label_en": t.label_en, "label_zh": t.label_zh,
                    "cases": [{"case_id": c.case_id, "number": c.number, "label_en": c.label_en,
                               "label_zh": c.label_zh, "difficulty": c.difficulty.value,
                               "synthetic": c.synthetic} for c in t.cases],
                } for t in s.topics],
            } for s in self.systems],
        }


@dataclass(frozen=True)
class CatalogSummary:
    """Counts of an archive's catalog; :meth:`format` gives the CLI text."""

    path: str
    schema_version: int
    sqlite_version: str
    n_patients: int
    n_studies: int
    n_series: int
    n_instances: int
    total_bytes: int
    series_by_modality: dict[str, int]
    instances_by_modality: dict[str, int]
    n_cases: int
    n_synthetic_cases: int
    cases_by_organ_system: dict[str, int]
    cases_by_difficulty: dict[str, int]
    n_case_links: int
    n_dangling_links: int = 0
    study_date_range: tuple[str, str] | None = field(default=None)

    def format(self) -> str:
        """Human-readable multi-line text (English, organ systems also in Chinese)."""
        def mb(n: int) -> str:
            return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"

        lines = [
            f"catalog: {self.path} (schema {self.schema_version}, SQLite {self.sqlite_version})",
            f"archive: {self.n_patients} patients, {self.n_studies} studies, {self.n_series} series, "
            f"{self.n_instances} instances, {mb(self.total_bytes)}",
        ]
        if self.study_date_range:
            lines.append(f"study dates (shifted): {self.study_date_range[0]} .. {self.study_date_range[1]}")
        if self.series_by_modality:
            lines.append("by modality (series / instances):")
            for m, n in self.series_by_modality.items():
                lines.append(f"  {m:<6} {n:>8} {self.instances_by_modality.get(m, 0):>10}")
        lines.append(f"teaching cases: {self.n_cases} ({self.n_synthetic_cases} synthetic), "
                     f"{self.n_case_links} case-series links")
        if self.n_dangling_links:
            lines.append(f"  {self.n_dangling_links} links name series not in the archive")
        if self.n_cases:
            for s in OrganSystem:
                n = self.cases_by_organ_system.get(s.value, 0)
                lines.append(f"  {s.label_en + ' (' + s.label_zh + ')':<36} {n:>7}")
            lines.append("  by difficulty: " + ", ".join(
                f"{d.value} {self.cases_by_difficulty.get(d.value, 0)}" for d in Difficulty))
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def resolve_catalog_path(path_or_archive: PathLike) -> Path | str:
    """The catalog file for ``path_or_archive``: ``DIR/catalog.sqlite`` for a folder,
    the path itself otherwise, ``':memory:'`` unchanged.

    >>> resolve_catalog_path(":memory:")
    ':memory:'
    """
    if str(path_or_archive) == ":memory:":
        return ":memory:"
    p = Path(path_or_archive).expanduser()
    if p.is_dir():
        return p / CATALOG_FILENAME
    return p


def has_fts5(conn: sqlite3.Connection) -> bool:
    """True if ``conn``'s SQLite library has the FTS5 extension."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.caselib_fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp.caselib_fts5_probe")
        return True
    except sqlite3.OperationalError:
        return False


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _in(column: str, values: Sequence[object]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def _union(bitsets: Iterable[int]) -> int:
    out = 0
    for b in bitsets:
        out |= b
    return out


def _check_page(limit: int, offset: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}")


def _upsert(table: str, key: str, cols: Sequence[str], values: Sequence[str] | None = None) -> str:
    values = values or ["?"] * len(cols)
    rest = [c for c in cols if c != key]
    sets = ", ".join(f"{c} = excluded.{c}" for c in rest)
    changed = " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in rest)
    return (f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join(values)}) "
            f"ON CONFLICT({key}) DO UPDATE SET {sets} WHERE {changed}")


# age: the oldest seen wins (the same whatever order the studies of a patient arrive in)
_PATIENT_SQL = ("INSERT INTO patients(pseudonym, sex, age, age_years, synthetic) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(pseudonym) DO UPDATE SET sex = excluded.sex, synthetic = excluded.synthetic, "
                "age = CASE WHEN patients.age_years IS NULL OR excluded.age_years > patients.age_years "
                "THEN excluded.age ELSE patients.age END, "
                "age_years = MAX(COALESCE(patients.age_years, excluded.age_years), "
                "COALESCE(excluded.age_years, patients.age_years))")
_STUDY_SQL = _upsert(
    "studies", "study_uid", ["study_uid", "patient_pk", "study_date", "accession", "description"],
    ["?", "(SELECT patient_pk FROM patients WHERE pseudonym = ?)", "?", "?", "?"])
_SERIES_COLS = ["series_uid", "study_pk", "modality", "body_part", "description", "series_number",
                "n_instances", "n_frames", "image_rows", "image_columns", "pixel_spacing_row_mm",
                "pixel_spacing_col_mm", "slice_thickness_mm", "geometry_warnings", "dataset"]
_SERIES_SQL = _upsert("series", "series_uid", _SERIES_COLS,
                      ["?", "(SELECT study_pk FROM studies WHERE study_uid = ?)"] + ["?"] * 13)
_INSTANCE_SQL = _upsert(
    "instances", "sop_uid",
    ["sop_uid", "series_pk", "instance_number", "path", "sha256", "size_bytes",
     "transfer_syntax_uid", "sop_class_uid", "n_frames"],
    ["?", "(SELECT series_pk FROM series WHERE series_uid = ?)"] + ["?"] * 7)
_CASE_SQL = _upsert("cases", "case_id", ["case_id", "title_en", "title_zh", "organ_system",
                                         "diagnosis_en", "diagnosis_zh", "difficulty", "synthetic"])

BM25_MAX_MATCHES = 2000
"""Above this many text matches, :meth:`Catalog.search` orders by field tier, not bm25."""

_CASE_COLS = ("c.case_pk, c.case_id, c.title_en, c.title_zh, c.organ_system, c.diagnosis_en, "
              "c.diagnosis_zh, c.difficulty, c.synthetic")


# --------------------------------------------------------------------------- the catalog


class Catalog:
    """The SQLite index of an archive: patients, studies, series, instances and teaching cases.

    Open it with :meth:`open`; it is a context manager.  A ``Catalog`` wraps one
    connection, to be used from one thread; open one per thread or process
    (WAL mode lets readers work while one writer writes).

    Examples
    --------
    >>> cat = Catalog.open(":memory:")
    >>> cat.add_patients([PatientRecord("P1", sex="F", age="061Y")])
    1
    >>> cat.add_studies([StudyRecord("1.2.1", "P1", study_date="2031-02-03", description="CT chest")])
    1
    >>> cat.add_series([SeriesRecord("1.2.1.1", "1.2.1", "CT", body_part="CHEST",
    ...                               description="Lung window 1mm", n_instances=120)])
    1
    >>> cat.add_cases([CaseRecord("resp-1", "Peripheral lung cancer", "周围型肺癌", "respiratory",
    ...                           diagnosis_en="Lung cancer", diagnosis_zh="肺癌",
    ...                           difficulty="intermediate", series_uids=["1.2.1.1"])])
    1
    >>> [r.case_id for r in cat.search("肺癌").rows], [r.case_id for r in cat.search("lung").rows]
    (['resp-1'], ['resp-1'])
    >>> cat.search(modality="CT").facets["organ_system"]["respiratory"]
    1
    >>> cat.close()
    """

    def __init__(self, conn: sqlite3.Connection, path: Path | str, *, readonly: bool = False) -> None:
        self._conn = conn
        self._path = path
        self._readonly = readonly
        self._depth = 0
        self._bitmap_index: _bitmap.BitmapIndex | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path_or_archive: PathLike, *, readonly: bool = False, timeout: float = 10.0) -> Catalog:
        """Open (creating and migrating as needed) the catalog of an archive.

        Parameters
        ----------
        path_or_archive : str or Path
            An archive folder (its ``catalog.sqlite`` is used), a catalog file,
            or ``':memory:'``.
        readonly : bool
            Open without writing anything (no schema creation or migration);
            the file must exist and be current.
        timeout : float
            Seconds to wait for another writer's lock.

        Raises
        ------
        FullTextUnavailableError
            If this Python's SQLite lacks FTS5.
        CatalogSchemaError
            If the file was written by a newer caselib (or, read-only, an older one).
        CatalogError
            If a read-only catalog does not exist.

        Examples
        --------
        >>> with Catalog.open(":memory:") as cat:
        ...     cat.schema_version
        4
        """
        target = resolve_catalog_path(path_or_archive)
        if readonly:
            if target == ":memory:" or not Path(target).is_file():
                raise CatalogError(f"no catalog at {target}: open it once without readonly=True "
                                   "(or ingest into the archive) to create it")
            uri = Path(target).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            if target != ":memory:" and not Path(target).parent.is_dir():
                raise CatalogError(f"cannot create catalog {target}: folder {Path(target).parent} "
                                   "does not exist")
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None)
        try:
            if not has_fts5(conn):
                raise FullTextUnavailableError(
                    f"the SQLite library of this Python (sqlite3 {sqlite3.sqlite_version}) was built "
                    "without FTS5, which the catalog needs for full-text search; use a Python whose "
                    "sqlite3 has FTS5 (python.org, Debian, conda-forge and uv builds all do)")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -65536")
            if readonly:
                version = current_version(conn)
                if version != SCHEMA_VERSION:
                    raise CatalogSchemaError(
                        f"catalog {target} has schema version {version}, this caselib needs "
                        f"{SCHEMA_VERSION}; open it once without readonly=True to migrate")
            else:
                if target != ":memory:":
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":  # pragma: no cover - e.g. network file systems
                        raise CatalogError(f"cannot switch {target} to WAL mode (got {mode!r})")
                    conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, target, readonly=readonly)

    @property
    def path(self) -> Path | str:
        """The catalog file (or ``':memory:'``)."""
        return self._path

    @property
    def readonly(self) -> bool:
        """True if opened with ``readonly=True``."""
        return self._readonly

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        return current_version(self._conn)

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for ad-hoc SQL in notebooks (please only read)."""
        return self._conn

    def close(self) -> None:
        """Close the connection (idempotent); lets SQLite refresh planner statistics first."""
        try:
            if not self._readonly and not self._conn.in_transaction:
                self._conn.execute("PRAGMA optimize")
        except sqlite3.ProgrammingError:  # already closed
            pass
        self._conn.close()

    def optimize(self) -> None:
        """Refresh planner statistics (``ANALYZE``) and merge the FTS5 index segments.

        Run it after a bulk load (the ingest pipeline does at the end of a run);
        searches work without it, a little slower.
        """
        with self.transaction():
            self._conn.execute("ANALYZE")
            self._conn.execute("INSERT INTO case_fts(case_fts) VALUES ('optimize')")
            self._conn.execute("INSERT INTO series_fts(series_fts) VALUES ('optimize')")

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({str(self._path)!r}{', readonly=True' if self._readonly else ''})"

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[Catalog]:
        """Group writes into one atomic transaction (nestable via savepoints).

        Every ``add_*`` method already runs in its own transaction; wrap many
        calls in one ``transaction()`` to make them atomic and faster.

        Examples
        --------
        >>> cat = Catalog.open(":memory:")
        >>> with cat.transaction():
        ...     _ = cat.add_patients([PatientRecord("P1")])
        ...     _ = cat.add_studies([StudyRecord("1.2", "P1")])
        >>> len(cat.studies())
        1
        """
        if self._readonly:
            raise CatalogError(f"catalog {self._path} is open read-only")
        conn = self._conn
        depth = self._depth
        if depth == 0:
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn.execute(f"SAVEPOINT caselib_{depth}")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if depth == 0:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO caselib_{depth}")
                conn.execute(f"RELEASE caselib_{depth}")
            raise
        else:
            self._depth -= 1
            conn.execute("COMMIT" if depth == 0 else f"RELEASE caselib_{depth}")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read snapshot for a multi-statement read."""
        conn = self._conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ archive writes

    def _missing(self, table: str, column: str, values: Iterable[str]) -> list[str]:
        vals = sorted(set(values))
        return [r[0] for r in self._conn.execute(
            f"SELECT value FROM json_each(?) WHERE value NOT IN (SELECT {column} FROM {table})",
            (json.dumps(vals),))]

    def _insert(self, sql: str, rows: list[tuple[Any, ...]], parent: tuple[str, str, str, int] | None) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            if parent is not None and "NOT NULL" in str(exc):
                table, column, what, idx = parent
                missing = self._missing(table, column, (r[idx] for r in rows))
                if missing:
                    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                    raise CatalogError(
                        f"{len(missing)} {what} not in the catalog: {shown}; add them first") from exc
            raise CatalogError(f"catalog rejected the records: {exc}") from exc

    def add_patients(self, records: Iterable[PatientRecord]) -> int:
        """Insert or update patients (keyed by pseudonym); returns the number of records.

        >>> Catalog.open(":memory:").add_patients([PatientRecord("P1"), PatientRecord("P2")])
        2
        """
        rows = [(r.pseudonym, r.sex, r.age, r.age_years, int(r.synthetic)) for r in records]
        with self.transaction():
            self._insert(_PATIENT_SQL, rows, None)
        return len(rows)

    def add_patient(self, record: PatientRecord) -> None:
        """Insert or update one patient (see :meth:`add_patients`)."""
        self.add_patients([record])

    def add_studies(self, records: Iterable[StudyRecord]) -> int:
        """Insert or update studies (keyed by study UID); their patients must exist.

        Raises
        ------
        CatalogError
            Naming the patient pseudonyms that are not in the catalog.
        """
        rows = [(r.study_uid, r.patient_pseudonym, r.study_date, r.accession, r.description)
                for r in records]
        with self.transaction():
            self._insert(_STUDY_SQL, rows, ("patients", "pseudonym", "patient pseudonym(s)", 1))
            if rows:
                touched = self._conn.execute(
                    "SELECT s.series_pk, s.series_uid FROM series s JOIN studies st "
                    "ON st.study_pk = s.study_pk WHERE st.study_uid IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted({r[0] for r in rows})),)).fetchall()
                if touched:
                    _index.refresh_series_fts(self._conn, [t[0] for t in touched])
                    _index.refresh_cases(self._conn, _index.cases_linked_to(self._conn, [t[1] for t in touched]))
        return len(rows)

    def add_study(self, record: StudyRecord) -> None:
        """Insert or update one study (see :meth:`add_studies`)."""
        self.add_studies([record])

    def add_series(self, records: SeriesRecord | Iterable[SeriesRecord]) -> int:
        """Insert or update series (keyed by series UID); their studies must exist.

        Also refreshes the series' full-text rows and the cases linked to them.
        Accepts one record or an iterable; returns the number of records.
        """
        recs = [records] if isinstance(records, SeriesRecord) else list(records)
        rows = [(r.series_uid, r.study_uid, r.modality, r.body_part, r.description, r.series_number,
                 r.n_instances, r.n_frames, r.rows, r.columns,
                 r.pixel_spacing[0] if r.pixel_spacing else None,
                 r.pixel_spacing[1] if r.pixel_spacing else None,
                 r.slice_thickness, json.dumps(list(r.geometry_warnings), ensure_ascii=False), r.dataset)
                for r in recs]
        with self.transaction():
            self._insert(_SERIES_SQL, rows, ("studies", "study_uid", "study UID(s)", 1))
            uids = [r[0] for r in rows]
            self._conn.executemany("INSERT OR IGNORE INTO series_sources(source_ref, series_uid) VALUES (?, ?)",
                                   [(ref, r.series_uid) for r in recs for ref in r.source_refs])
            _index.refresh_series_fts(self._conn, _index.series_pks_of(self._conn, uids))
            _index.refresh_cases(self._conn, _index.cases_linked_to(self._conn, uids))
        return len(rows)

    def add_instances(self, records: Iterable[InstanceRecord]) -> int:
        """Insert or update instances (keyed by SOP Instance UID); their series must exist.

        Streams ``records`` through one ``executemany`` in one transaction, so
        a generator of millions of records is fine.
        """
        count = 0

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal count
            for r in records:
                count += 1
                yield (r.sop_uid, r.series_uid, r.instance_number, r.path, r.sha256, r.size,
                       r.transfer_syntax, r.sop_class_uid, r.n_frames)

        with self.transaction():
            try:
                self._conn.executemany(_INSTANCE_SQL, rows())
            except sqlite3.IntegrityError as exc:
                if "NOT NULL" in str(exc):
                    raise CatalogError(
                        f"an instance names a series UID not in the catalog ({exc}); "
                        "add its SeriesRecord first") from exc
                raise CatalogError(f"catalog rejected the records: {exc}") from exc
        return count

    # ------------------------------------------------------------------ teaching layer writes

    def add_cases(self, records: Iterable[CaseRecord]) -> int:
        """Insert or update teaching cases (keyed by case_id).

        The tags and series links of each case are *replaced* by the record's,
        so loading the same content twice converges.  Links may name series
        not ingested yet.
        """
        recs = list({r.case_id: r for r in records}.values())
        if not recs:
            return 0
        conn = self._conn
        with self.transaction():
            self._insert(_CASE_SQL, [
                (r.case_id, r.title_en, r.title_zh, OrganSystem.parse(r.organ_system).value,
                 r.diagnosis_en, r.diagnosis_zh, Difficulty.parse(r.difficulty).value, int(r.synthetic))
                for r in recs], None)
            pk = dict(conn.execute(
                "SELECT case_id, case_pk FROM cases WHERE case_id IN (SELECT value FROM json_each(?))",
                (json.dumps([r.case_id for r in recs]),)).fetchall())
            pks = json.dumps(sorted(pk.values()))
            conn.execute("DELETE FROM case_tags WHERE case_pk IN (SELECT value FROM json_each(?))", (pks,))
            conn.execute("DELETE FROM case_series WHERE case_pk IN (SELECT value FROM json_each(?))", (pks,))
            conn.execute("DELETE FROM case_declared_modalities WHERE case_pk IN (SELECT value FROM json_each(?))",
                         (pks,))
            conn.executemany("INSERT OR IGNORE INTO case_declared_modalities(modality, case_pk) VALUES (?, ?)",
                             [(m, pk[r.case_id]) for r in recs for m in r.modalities])
            conn.executemany("INSERT OR IGNORE INTO case_tags(tag, case_pk) VALUES (?, ?)",
                             [(t, pk[r.case_id]) for r in recs for t in r.tags])
            conn.executemany("INSERT INTO case_series(case_pk, series_uid, position) VALUES (?, ?, ?)",
                             [(pk[r.case_id], u, i) for r in recs for i, u in enumerate(r.series_uids)])
            _index.refresh_cases(conn, pk.values())
        return len(recs)

    def add_case(self, record: CaseRecord) -> None:
        """Insert or update one case (see :meth:`add_cases`)."""
        self.add_cases([record])

    # ------------------------------------------------------------------ finding series by source

    def series_for_source(self, source_ref: str) -> list[str]:
        """The archive's series UIDs ingested from a data-manifest key.

        ``source_ref`` is a file key (``'pydicom-data/RG1_UNCI.dcm'``), found
        through the ``source_refs`` that ingest recorded, or a data-set name
        (``'tcia-lung-ct'``), found through :attr:`SeriesRecord.dataset`.
        This is how a teaching case, written against the manifest before any
        archive existed, finds its series after de-identification replaced
        every UID.  Sorted; empty when nothing was ingested from it.

        Examples
        --------
        >>> cat = Catalog.open(":memory:")
        >>> cat.add_patient(PatientRecord("P1")); cat.add_study(StudyRecord("2.25.1", "P1"))
        >>> _ = cat.add_series(SeriesRecord("2.25.2", "2.25.1", "CR", dataset="pydicom-data",
        ...                                 source_refs=("pydicom-data/RG1_UNCI.dcm",)))
        >>> cat.series_for_source("pydicom-data/RG1_UNCI.dcm"), cat.series_for_source("pydicom-data")
        (['2.25.2'], ['2.25.2'])
        """
        if not isinstance(source_ref, str) or not source_ref.strip():
            raise ValueError(f"source_ref must be a data-manifest key, got {source_ref!r}")
        with self._reading() as conn:
            return [r[0] for r in conn.execute(
                "SELECT series_uid FROM series_sources WHERE source_ref = ? "
                "UNION SELECT series_uid FROM series WHERE dataset = ? ORDER BY 1", (source_ref, source_ref))]

    def has_series(self, series_uid: str) -> bool:
        """True if the archive holds a series with this (de-identified) UID."""
        with self._reading() as conn:
            return conn.execute("SELECT 1 FROM series WHERE series_uid = ?", (series_uid,)).fetchone() is not None

    def link_series(self, case_id: str, series_uids: Iterable[str], *, replace: bool = False) -> None:
        """Link series to a case (appended after its current ones, or ``replace`` them).

        Raises
        ------
        CaseNotFoundError
            If ``case_id`` is not in the catalog.
        """
        uids = list(dict.fromkeys(_as_list(series_uids)))
        conn = self._conn
        with self.transaction():
            row = conn.execute("SELECT case_pk FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFoundError(f"no case {case_id!r} in the catalog")
            case_pk = row[0]
            if replace:
                conn.execute("DELETE FROM case_series WHERE case_pk = ?", (case_pk,))
            start = conn.execute("SELECT coalesce(MAX(position) + 1, 0) FROM case_series WHERE case_pk = ?",
                                 (case_pk,)).fetchone()[0]
            conn.executemany("INSERT OR IGNORE INTO case_series(case_pk, series_uid, position) VALUES (?, ?, ?)",
                             [(case_pk, u, start + i) for i, u in enumerate(uids)])
            _index.refresh_cases(conn, [case_pk])

    def remove_case(self, case_id: str) -> bool:
        """Delete a case with its tags and links (series stay); True if it existed."""
        conn = self._conn
        with self.transaction():
            row = conn.execute("SELECT case_pk FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM case_fts WHERE rowid = ?", (row[0],))
            conn.execute("DELETE FROM cases WHERE case_pk = ?", (row[0],))
        return True

    # ------------------------------------------------------------------ search

    def _bitmap(self, conn: sqlite3.Connection) -> _bitmap.BitmapIndex:
        """The bitmap index for the current database version (rebuilt after any change)."""
        idx = self._bitmap_index
        if idx is None or idx.key != _bitmap.version_key(conn):
            idx = self._bitmap_index = _bitmap.BitmapIndex(conn)
        return idx

    def clear_cache(self, *, index: bool = False) -> None:
        """Forget cached full-text and tag results (and, with ``index=True``, the
        bitmap index itself).  Only benchmarks need this: the catalog rebuilds
        both by itself whenever the database changes."""
        if index:
            self._bitmap_index = None
        elif self._bitmap_index is not None:
            self._bitmap_index.clear_text_cache()

    def search(
        self,
        text: str | None = None,
        *,
        organ_system: OrganSystem | str | Iterable[OrganSystem | str] | None = None,
        modality: str | Iterable[str] | None = None,
        difficulty: Difficulty | str | Iterable[Difficulty | str] | None = None,
        tags: str | Iterable[str] | None = None,
        synthetic: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> SearchResult[CaseRow]:
        """Full-text and faceted search over the teaching cases.

        Parameters
        ----------
        text : str, optional
            Free text in English and/or Chinese; every white-space separated
            word must match (Latin words as prefixes, with English stemming;
            Chinese by bigrams, see :mod:`caselib.catalog.text`).  Searches
            titles, diagnoses, tags, organ system labels and the modality,
            body part and descriptions of the linked series and their studies.
            FTS syntax typed by the user is never interpreted.
        organ_system, modality, difficulty : str or list, optional
            Keep cases with any of the given values (labels in either language
            are accepted for organ systems and difficulty).
        tags : str or list of str, optional
            Keep cases that carry *all* the tags (case-insensitive).
        synthetic : bool, optional
            Keep only synthetic (True) or only real (False) cases.
        limit, offset : int
            The page.

        Returns
        -------
        SearchResult
            ``rows`` (:class:`CaseRow`), ``total`` over the filtered set and
            ``facets`` counted over the filtered set.

        Notes
        -----
        Order: without text, by ``case_id``.  With text, by FTS5 bm25
        relevance (``CaseRow.score``, lower is better; title 10x, diagnosis 8x,
        tags 4x, series 2x, system label 1x) when at most
        ``BM25_MAX_MATCHES`` (2,000) cases match the text; above that, scoring
        every match would dominate the query time, so cases matching in their
        title or diagnosis come first, then the others, each by ``case_id``
        (``score`` None).  Facets and totals are exact either way; they come
        from an in-memory bitmap index (:mod:`caselib.catalog._bitmap`).

        Examples
        --------
        >>> cat = Catalog.open(":memory:")
        >>> _ = cat.add_cases([CaseRecord("c1", "Pneumothorax", "气胸", "respiratory", tags=["PBL"]),
        ...                    CaseRecord("c2", "Liver abscess", "肝脓肿", "digestive")])
        >>> res = cat.search("pneumo")
        >>> [r.case_id for r in res.rows], res.total, res.facets["organ_system"]["respiratory"]
        (['c1'], 1, 1)
        >>> cat.search(tags="pbl").total, cat.search("'); DROP TABLE cases;--").total
        (1, 0)
        """
        _check_page(limit, offset)
        match = build_fts_query(text)
        systems = [OrganSystem.parse(s).value for s in _as_list(organ_system)]
        levels = [Difficulty.parse(d).value for d in _as_list(difficulty)]
        mods = [str(m).strip().upper() for m in _as_list(modality)]
        tag_list = [" ".join(t.split()) if isinstance(t, str) else t for t in _as_list(tags)]
        for t in tag_list:
            if not isinstance(t, str):
                raise TypeError(f"tags must be strings, got {t!r}")
        with self._reading() as conn:
            idx = self._bitmap(conn)
            flt = idx.all
            text_bits = 0
            if match is not None:
                text_bits = idx.text(conn, match)
                flt &= text_bits
            if systems:
                flt &= _union(idx.systems.get(s, 0) for s in systems)
            if levels:
                flt &= _union(idx.difficulties.get(d, 0) for d in levels)
            if mods:
                flt &= _union(idx.modalities.get(m, 0) for m in mods)
            for t in tag_list:
                flt &= idx.tag(conn, t)
            if synthetic is not None:
                flt &= idx.synthetic if synthetic else ~idx.synthetic
            facets: dict[str, dict[str, int]] = {
                "organ_system": {s.value: (flt & idx.systems.get(s.value, 0)).bit_count() for s in OrganSystem},
                "modality": {},
                "difficulty": {d.value: (flt & idx.difficulties.get(d.value, 0)).bit_count()
                               for d in Difficulty},
            }
            mod_counts = ((m, (flt & b).bit_count()) for m, b in idx.modalities.items())
            facets["modality"] = dict(sorted(((m, n) for m, n in mod_counts if n),
                                             key=lambda kv: (-kv[1], kv[0])))
            tag_counts = ((t, (flt & b).bit_count()) for t, b in idx.tag_sets.items())
            facets["tags"] = dict(sorted(((t, n) for t, n in tag_counts if n),
                                         key=lambda kv: (-kv[1], kv[0])))
            total = flt.bit_count()
            scores: dict[int, float] = {}
            if offset >= total or limit == 0:
                page: list[int] = []
            elif match is None:
                page = idx.first_in_order(flt, offset + limit)[offset:]
            elif text_bits.bit_count() <= BM25_MAX_MATCHES:
                inside = idx.contains(flt)
                ranked = [(pk, score) for pk, score in conn.execute(
                    "SELECT rowid, rank FROM case_fts WHERE case_fts MATCH ? ORDER BY rank, rowid", (match,))
                    if inside[pk >> 3] >> (pk & 7) & 1][offset:offset + limit]
                page = [pk for pk, _ in ranked]
                scores = dict(ranked)
            else:
                about = idx.text(conn, "{title diagnosis} : (" + match + ")") & flt
                page = []
                skip, need = offset, limit
                for tier in (about, flt & ~about):
                    k = tier.bit_count()
                    if skip >= k:
                        skip -= k
                        continue
                    got = idx.first_in_order(tier, skip + need)[skip:]
                    page += got
                    need -= len(got)
                    skip = 0
                    if need <= 0:
                        break
            rows = self._case_rows(conn, page, scores)
        return SearchResult(rows=rows, total=total, facets=facets)

    def _case_rows(self, conn: sqlite3.Connection, pks: Sequence[int],
                   scores: dict[int, float] | None = None) -> list[CaseRow]:
        if not pks:
            return []
        ids = json.dumps(list(pks))
        # driven from the page's pks (CROSS JOIN fixes the loop order): one index lookup each
        base = {r[0]: r for r in conn.execute(
            f"SELECT {_CASE_COLS} FROM json_each(?) AS j CROSS JOIN cases c ON c.case_pk = j.value", (ids,))}
        tags: dict[int, list[str]] = {}
        for pk, tag in conn.execute("SELECT t.case_pk, t.tag FROM json_each(?) AS j CROSS JOIN case_tags t "
                                    "ON t.case_pk = j.value ORDER BY t.case_pk, t.tag", (ids,)):
            tags.setdefault(pk, []).append(tag)
        mods: dict[int, list[str]] = {}
        for pk, m in conn.execute("SELECT m.case_pk, m.modality FROM json_each(?) AS j "
                                  "CROSS JOIN case_modalities m ON m.case_pk = j.value "
                                  "ORDER BY m.case_pk, m.modality", (ids,)):
            mods.setdefault(pk, []).append(m)
        links: dict[int, list[str]] = {}
        for pk, u in conn.execute("SELECT cs.case_pk, cs.series_uid FROM json_each(?) AS j "
                                  "CROSS JOIN case_series cs ON cs.case_pk = j.value "
                                  "ORDER BY cs.case_pk, cs.position", (ids,)):
            links.setdefault(pk, []).append(u)
        scores = scores or {}
        out = []
        for pk in pks:
            _, cid, ten, tzh, sys_, den, dzh, diff, syn = base[pk]
            out.append(CaseRow(case_id=cid, title_en=ten, title_zh=tzh, organ_system=OrganSystem(sys_),
                               diagnosis_en=den, diagnosis_zh=dzh, difficulty=Difficulty(diff),
                               synthetic=bool(syn), tags=tuple(tags.get(pk, ())),
                               modalities=tuple(mods.get(pk, ())), series_uids=tuple(links.get(pk, ())),
                               score=scores.get(pk)))
        return out

    def explain_search(self) -> dict[str, list[str]]:
        """``EXPLAIN QUERY PLAN`` of every SQL statement :meth:`search` runs.

        Keys: ``'index_cases'``, ``'index_modalities'``, ``'index_order'``
        (building the bitmap index), ``'tag'``, ``'text'``,
        ``'rank'`` (per query), ``'rows'`` and ``'row_tags'`` (fetching the page).  Each value
        lists the plan steps, e.g. ``'SCAN cases USING COVERING INDEX ...'``.
        """
        w, b = _bitmap.words_sql("case_pk")
        wr, br = _bitmap.words_sql("rowid")
        statements: dict[str, tuple[str, tuple[object, ...]]] = {
            "index_cases": (f"SELECT organ_system, difficulty, synthetic, {w}, {b} FROM cases "
                            "GROUP BY 1, 2, 3, 4", ()),
            "index_modalities": (f"SELECT modality, {w}, {b} FROM case_modalities GROUP BY 1, 2", ()),
            "index_order": ("SELECT case_pk FROM cases ORDER BY case_id", ()),
            "tag": (f"SELECT {w}, {b} FROM case_tags WHERE tag = ? GROUP BY 1", ("x",)),
            "text": (f"SELECT {wr}, {br} FROM case_fts WHERE case_fts MATCH ? GROUP BY 1", ('"x"',)),
            "rank": ("SELECT rowid, rank FROM case_fts WHERE case_fts MATCH ? ORDER BY rank, rowid", ('"x"',)),
            "rows": (f"SELECT {_CASE_COLS} FROM json_each(?) AS j CROSS JOIN cases c ON c.case_pk = j.value",
                     ("[1]",)),
            "row_tags": ("SELECT t.case_pk, t.tag FROM json_each(?) AS j CROSS JOIN case_tags t "
                         "ON t.case_pk = j.value ORDER BY t.case_pk, t.tag", ("[1]",)),
        }
        return {name: [r[3] for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
                for name, (sql, params) in statements.items()}

    def get_case(self, case_id: str) -> CaseRow:
        """The case ``case_id`` with its tags, modalities and series links.

        Raises
        ------
        CaseNotFoundError
            If there is no such case.
        """
        with self._reading() as conn:
            row = conn.execute("SELECT case_pk FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFoundError(f"no case {case_id!r} in the catalog")
            return self._case_rows(conn, [row[0]])[0]

    def search_series(
        self,
        text: str | None = None,
        *,
        modality: str | Iterable[str] | None = None,
        body_part: str | Iterable[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> SearchResult[SeriesRow]:
        """Full-text and faceted search over the series (teaching cases or not).

        ``text`` searches series and study descriptions and body parts (same
        rules as :meth:`search`).  Facets: ``'modality'`` and ``'body_part'``
        (values present, most frequent first; a missing body part is ``''``).

        Examples
        --------
        >>> cat = Catalog.open(":memory:")
        >>> cat.add_patient(PatientRecord("P1")); cat.add_study(StudyRecord("1.2", "P1"))
        >>> _ = cat.add_series(SeriesRecord("1.2.3", "1.2", "MR", "BRAIN", "T2 FLAIR 轴位"))
        >>> [s.series_uid for s in cat.search_series("flair").rows], cat.search_series("轴位").total
        (['1.2.3'], 1)
        """
        _check_page(limit, offset)
        match = build_fts_query(text)
        conds: list[str] = []
        params: list[object] = []
        mods = [str(m).strip().upper() for m in _as_list(modality)]
        if mods:
            conds.append(_in("s.modality", mods))
            params += mods
        parts = [str(b).strip().upper() for b in _as_list(body_part)]
        if parts:
            conds.append(_in("s.body_part", parts))
            params += parts
        fconds = (["s.series_pk IN (SELECT rowid FROM series_fts WHERE series_fts MATCH ?)"]
                  if match else []) + conds
        fparams = ([match] if match else []) + params
        where = ("WHERE " + " AND ".join(fconds)) if fconds else ""
        cols = ("s.series_uid, st.study_uid, p.pseudonym, st.study_date, s.modality, s.body_part, "
                "s.description, s.n_instances")
        joins = "JOIN studies st ON st.study_pk = s.study_pk JOIN patients p ON p.patient_pk = st.patient_pk"
        if match:
            page_sql = (f"SELECT {cols}, series_fts.rank FROM series_fts JOIN series s "
                        f"ON s.series_pk = series_fts.rowid {joins} "
                        f"WHERE {' AND '.join(['series_fts MATCH ?', *conds])} "
                        "ORDER BY series_fts.rank, s.series_uid LIMIT ? OFFSET ?")
        else:
            page_sql = f"SELECT {cols}, NULL FROM series s {joins} {where} ORDER BY s.series_uid LIMIT ? OFFSET ?"
        with self._reading() as conn:
            facets: dict[str, dict[str, int]] = {"modality": {}, "body_part": {}}
            for kind, value, n in conn.execute(f"""
                    WITH f AS MATERIALIZED (SELECT s.modality, s.body_part FROM series s {where})
                    SELECT 0, modality, COUNT(*) FROM f GROUP BY modality
                    UNION ALL SELECT 1, coalesce(body_part, ''), COUNT(*) FROM f GROUP BY body_part""",
                                               fparams):
                facets["modality" if kind == 0 else "body_part"][value] = n
            for k in facets:
                facets[k] = dict(sorted(facets[k].items(), key=lambda kv: (-kv[1], kv[0])))
            total = sum(facets["modality"].values())
            rows = [SeriesRow(*r) for r in conn.execute(page_sql, [*fparams, limit, offset])]
        return SearchResult(rows=rows, total=total, facets=facets)

    # ------------------------------------------------------------------ tree

    def case_tree(self, unknown_mode: bool = False, *, seed: str = "",
                  organ_system: OrganSystem | str | None = None,
                  include_empty: bool = False) -> CaseTree:
        """The case tree: organ system -> diagnosis/topic -> cases.

        Parameters
        ----------
        unknown_mode : bool
            Hide titles and diagnoses, for "unknown case" teaching: each system
            has one topic node ("Unknown cases" / "未知病例") and each case a
            neutral label "Case N" / "病例 N".  Numbers follow a keyed hash
            (BLAKE2b keyed with ``seed``) of the case_id, so neither the number
            nor the order reveals the diagnosis or the insertion order; change
            ``seed`` to re-shuffle (numbers change when cases are added).
        seed : str
            See ``unknown_mode`` (at most 64 bytes are used).
        organ_system : OrganSystem or str, optional
            Build only this system's subtree (for a browser that expands lazily).
        include_empty : bool
            Also list organ systems without cases.

        Examples
        --------
        >>> cat = Catalog.open(":memory:")
        >>> _ = cat.add_cases([CaseRecord("c1", "Pneumothorax", "气胸", "respiratory",
        ...                                diagnosis_en="Pneumothorax", diagnosis_zh="气胸")])
        >>> tree = cat.case_tree()
        >>> tree.systems[0].system.label_zh, tree.systems[0].topics[0].label_zh
        ('呼吸系统', '气胸')
        >>> leaf = cat.case_tree(unknown_mode=True).systems[0].topics[0].cases[0]
        >>> leaf.label_en, leaf.title_en
        ('Case 1', None)
        """
        systems_wanted = (list(OrganSystem) if organ_system is None
                          else [OrganSystem.parse(organ_system)])
        codes = [s.value for s in systems_wanted]
        where = f"WHERE organ_system IN ({', '.join('?' * len(codes))})"
        diff = {d.value: d for d in Difficulty}
        out: list[SystemNode] = []
        with self._reading() as conn:
            if unknown_mode:
                # titles and diagnoses are not even read
                rows = conn.execute("SELECT case_id, organ_system, difficulty, synthetic FROM cases").fetchall()
                salt = seed.encode()
                rows.sort(key=lambda r: (hashlib.blake2b(r[0].encode(), digest_size=8, key=salt[:64]).digest(),
                                         r[0]))
                by_sys: dict[str, list[CaseLeaf]] = {}
                for n, (cid, code, d, syn) in enumerate(rows, start=1):
                    if code in codes:
                        by_sys.setdefault(code, []).append(
                            CaseLeaf(cid, n, f"Case {n}", f"病例 {n}", diff[d], bool(syn)))
                for s in systems_wanted:
                    leaves = by_sys.get(s.value, [])
                    if leaves or include_empty:
                        out.append(SystemNode(s, (TopicNode("Unknown cases", "未知病例", tuple(leaves)),)
                                              if leaves else ()))
                return CaseTree(tuple(out), unknown_mode=True)
            groups: dict[str, dict[tuple[str, str], list[tuple[Any, ...]]]] = {}
            for row in conn.execute(
                    "SELECT case_id, title_en, title_zh, organ_system, diagnosis_en, diagnosis_zh, "
                    f"difficulty, synthetic FROM cases {where}", codes):
                den, dzh = row[4], row[5]
                key = (den or dzh or "Other", dzh or den or "其他")
                groups.setdefault(row[3], {}).setdefault(key, []).append(row)
        n = 0
        for s in systems_wanted:
            topics = groups.get(s.value, {})
            if not topics and not include_empty:
                continue
            nodes: list[TopicNode] = []
            for key in sorted(topics, key=lambda k: (k[0].casefold(), k[1])):
                leaves = []
                for cid, ten, tzh, _, _, _, d, syn in sorted(topics[key]):
                    n += 1
                    leaves.append(CaseLeaf(cid, n, ten or tzh, tzh or ten, diff[d], bool(syn), ten, tzh))
                nodes.append(TopicNode(key[0], key[1], tuple(leaves)))
            out.append(SystemNode(s, tuple(nodes)))
        return CaseTree(tuple(out), unknown_mode=False)

    # ------------------------------------------------------------------ DataFrame views

    def patients(self) -> pd.DataFrame:
        """Patients as a DataFrame (imports pandas), one row per pseudonym.

        Columns: ``pseudonym, sex, age, age_years, synthetic, n_studies``.
        """
        from caselib.catalog import frames

        return frames.patients(self._conn)

    def studies(self, *, patient: str | None = None) -> pd.DataFrame:
        """Studies as a DataFrame (imports pandas).

        Columns: ``study_uid, patient_pseudonym, study_date`` (shifted, datetime64),
        ``accession, description, n_series, modalities`` (e.g. ``'CT\\MR'``).
        """
        from caselib.catalog import frames

        return frames.studies(self._conn, patient=patient)

    def series(self, *, modality: str | Iterable[str] | None = None,
               body_part: str | Iterable[str] | None = None, study_uid: str | None = None,
               case_id: str | None = None) -> pd.DataFrame:
        """Series as a DataFrame (imports pandas), optionally filtered.

        Columns: ``series_uid, study_uid, patient_pseudonym, study_date, modality,
        body_part, description, series_number, n_instances, n_frames, image_rows,
        image_columns, pixel_spacing_row_mm, pixel_spacing_col_mm, slice_thickness_mm,
        geometry_warnings`` (list of str), ``dataset, n_cases``.

        ``image_rows``/``image_columns`` are (0028,0010) Rows and (0028,0011)
        Columns; they are not called ``rows``/``columns`` so as not to clash with
        ``DataFrame.columns``.
        """
        from caselib.catalog import frames

        return frames.series(self._conn, modality=[str(m).strip().upper() for m in _as_list(modality)],
                             body_part=[str(b).strip().upper() for b in _as_list(body_part)],
                             study_uid=study_uid, case_id=case_id)

    def instances(self, series_uid: str | None = None) -> pd.DataFrame:
        """Instances of one series (all when None) as a DataFrame (imports pandas).

        Columns: ``sop_uid, series_uid, instance_number, path, sha256, size_bytes,
        transfer_syntax_uid, sop_class_uid, n_frames``; ordered by instance number.
        """
        from caselib.catalog import frames

        return frames.instances(self._conn, series_uid)

    def cases(self, *, organ_system: OrganSystem | str | None = None,
              difficulty: Difficulty | str | None = None) -> pd.DataFrame:
        """Teaching cases as a DataFrame (imports pandas).

        Columns: ``case_id, title_en, title_zh, organ_system, organ_system_en,
        organ_system_zh, diagnosis_en, diagnosis_zh, difficulty, tags`` (list),
        ``modalities`` (list), ``n_series, n_series_missing, synthetic``.
        """
        from caselib.catalog import frames

        return frames.cases(
            self._conn,
            organ_system=OrganSystem.parse(organ_system).value if organ_system is not None else None,
            difficulty=Difficulty.parse(difficulty).value if difficulty is not None else None)

    # ------------------------------------------------------------------ summary

    def summary(self) -> CatalogSummary:
        """Counts by table, modality, organ system and difficulty, and total bytes."""
        with self._reading() as conn:
            def one(sql: str) -> int:
                return int(conn.execute(sql).fetchone()[0])

            by_mod = dict(conn.execute(
                "SELECT modality, COUNT(*) FROM series GROUP BY modality ORDER BY COUNT(*) DESC, modality"))
            inst_by_mod = dict(conn.execute(
                "SELECT s.modality, COUNT(*) FROM instances i JOIN series s ON s.series_pk = i.series_pk "
                "GROUP BY s.modality"))
            dates = conn.execute("SELECT MIN(study_date), MAX(study_date) FROM studies").fetchone()
            return CatalogSummary(
                path=str(self._path), schema_version=current_version(conn),
                sqlite_version=sqlite3.sqlite_version,
                n_patients=one("SELECT COUNT(*) FROM patients"),
                n_studies=one("SELECT COUNT(*) FROM studies"),
                n_series=one("SELECT COUNT(*) FROM series"),
                n_instances=one("SELECT COUNT(*) FROM instances"),
                total_bytes=one("SELECT coalesce(SUM(size_bytes), 0) FROM instances"),
                series_by_modality=by_mod, instances_by_modality=inst_by_mod,
                n_cases=one("SELECT COUNT(*) FROM cases"),
                n_synthetic_cases=one("SELECT COUNT(*) FROM cases WHERE synthetic = 1"),
                cases_by_organ_system={s.value: 0 for s in OrganSystem} | dict(conn.execute(
                    "SELECT organ_system, COUNT(*) FROM cases GROUP BY organ_system")),
                cases_by_difficulty={d.value: 0 for d in Difficulty} | dict(conn.execute(
                    "SELECT difficulty, COUNT(*) FROM cases GROUP BY difficulty")),
                n_case_links=one("SELECT COUNT(*) FROM case_series"),
                n_dangling_links=one("SELECT COUNT(*) FROM case_series cs WHERE NOT EXISTS "
                                     "(SELECT 1 FROM series s WHERE s.series_uid = cs.series_uid)"),
                study_date_range=(dates[0], dates[1]) if dates[0] else None,
            )

    def format_summary(self) -> str:
        """:meth:`summary` as text (what ``caselib catalog ARCHIVE`` prints)."""
        return self.summary().format()


def format_catalog_summary(catalog: Catalog | PathLike) -> str:
    """The text ``caselib catalog ARCHIVE`` prints.

    ``catalog`` is an open :class:`Catalog` or an archive folder / catalog
    file, which is opened read-only.

    Examples
    --------
    >>> print(format_catalog_summary(Catalog.open(":memory:")).splitlines()[1])
    archive: 0 patients, 0 studies, 0 series, 0 instances, 0.0 MB
    """
    if isinstance(catalog, Catalog):
        return catalog.format_summary()
    with Catalog.open(catalog, readonly=True) as cat:
        return cat.format_summary()
