"""The teaching library the lessons and apps open: cases, PBL cases, questions and their images.

:func:`open_library` returns a :class:`CaseLibrary`: the cases of the case
folders (:func:`caselib.cases.library.load_library`), their PBL cases
(``pbl.yaml``) and an in-memory catalog of the cases
(:func:`caselib.cases.library.case_record`), so the case tree, facet search
and unknown mode (:func:`~caselib.cases.library.case_tree`,
:func:`~caselib.cases.library.search_cases`) work without a demo archive (in
CI under nbval, in a fresh clone).  Images are found by the case's series
references:

- ``manifest_key``: a file key or a data-set name of ``data_manifest.yaml``,
  fetched and verified by sha256 through :mod:`caselib.data` (all public,
  already de-identified data);
- ``series_uid`` of a synthetic case: the case's ``phantom.yaml`` is built
  once into the data cache (``<cache>/phantoms/<case id>``).

With an archive (``open_library(archive=...)``, or ``$CASELIB_ARCHIVE``, which
``caselib demo serve`` sets for the server it starts) the images come from the
archive instead: each reference is resolved to the archive's de-identified
series (:func:`caselib.cases.resolve_series`: manifest keys through the
catalog's ``series_sources``, a phantom's original UID through the archive's
keyring, else through the case links ``caselib demo build`` wrote) and read from
the archive's store, so the apps show what the archive publishes (pseudonymised
headers, remapped UIDs).  A series the archive does not hold raises
:class:`SeriesNotInArchive`, which the apps show as a message.  The archive is
opened on the first image, never at import or when an app is built.

Where the case folders are: ``$CASELIB_CASES`` (``:``-separated), else the
``cases/`` folder of the caselib checkout.

>>> lib = open_library()                                 # doctest: +SKIP
>>> lib.search("fibroma").rows[0].case_id                # doctest: +SKIP
'nema-rg3-leg-cr'
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from caselib.cases import Case, PBLCase, Question, SeriesRef, Text, load_pbl_case

__all__ = ["CASES_ENV", "ARCHIVE_ENV", "ArchiveSeries", "CaseLibrary", "QuizItem", "SeriesNotInArchive",
           "archive_from_env", "cases_dirs", "open_library", "load_series", "series_citation"]

CASES_ENV = "CASELIB_CASES"
ARCHIVE_ENV = "CASELIB_ARCHIVE"   # the same variable as caselib.demo.ARCHIVE_ENV

#: question types the quiz asks (hotspots are answered with the viewer's point tool)
QUIZ_TYPES = ("single_choice", "multiple_choice", "true_false", "numeric", "window", "ordering", "hotspot")


def cases_dirs() -> list[Path]:
    """Folders searched for cases: ``$CASELIB_CASES`` or the checkout's ``cases/``."""
    env = os.environ.get(CASES_ENV)
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [Path(__file__).resolve().parents[3] / "cases"]


def archive_from_env() -> Path | None:
    """The archive named by ``$CASELIB_ARCHIVE`` (None when unset or empty)."""
    value = os.environ.get(ARCHIVE_ENV, "").strip()
    return Path(value) if value else None


class SeriesNotInArchive(LookupError):
    """A series the app should show is not in the archive (or the archive cannot be opened).

    ``reason`` is ``'missing'`` (the archive holds no series for the
    reference: not ingested, or quarantined) or ``'no_archive'``.
    """

    def __init__(self, archive: Path, ref: SeriesRef | None, *, case_id: str | None = None,
                 reason: str = "missing", detail: str = "") -> None:
        self.archive, self.ref, self.case_id, self.reason = archive, ref, case_id, reason
        where = f"case {case_id!r}: " if case_id else ""
        if reason == "missing" and ref is not None:
            message = (f"{where}series {ref.ref!r} is not in the archive {archive}: expected a series ingested "
                       "from it, found none (its files were not ingested, or were quarantined)")
        else:
            message = f"{where}cannot open the archive {archive}: {detail}"
        super().__init__(message)


class ArchiveSeries:
    """The series of one archive, found by the references of the cases (opened on first use).

    Examples
    --------
    >>> reader = ArchiveSeries("demo_archive")                          # doctest: +SKIP
    >>> reader.series(SeriesRef(manifest_key="tcia-lung-ct")).modality  # doctest: +SKIP
    'CT'
    """

    def __init__(self, archive: str | os.PathLike[str]) -> None:
        self.root = Path(archive).resolve()
        self._lock = threading.RLock()
        self._series: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"ArchiveSeries({str(self.root)!r})"

    def open_catalog(self) -> Any:
        """The archive's catalog, read-only (opened for each lookup: no connection is kept
        across threads, and a rebuilt archive is seen at once)."""
        from caselib.archive import ArchiveLayout
        from caselib.catalog import Catalog, CatalogError

        layout = ArchiveLayout.at(self.root)
        if not layout.catalog.is_file():
            raise SeriesNotInArchive(self.root, None, reason="no_archive",
                                     detail=f"expected its catalog {layout.catalog}, found none "
                                            "(build it with `caselib demo build` or `caselib ingest`)")
        try:
            return Catalog.open(self.root, readonly=True)
        except CatalogError as exc:      # e.g. an older catalog that a write must migrate first
            raise SeriesNotInArchive(self.root, None, reason="no_archive", detail=str(exc)) from exc

    @cached_property
    def keyring(self) -> Any:
        """The archive's UID keyring, or None where its private secret is not readable (students)."""
        from caselib.cases import keyring_for_archive

        try:
            return keyring_for_archive(self.root)
        except Exception:  # noqa: BLE001 - no secret, or private/ not shared (students): use the case links
            return None

    def uids(self, ref: SeriesRef, case: Case | None = None) -> tuple[str, ...]:
        """The archive's series UIDs for ``ref`` (of ``case`` when given); empty when it has none."""
        from caselib.cases import resolve_series

        with self._lock, self.open_catalog() as catalog:
            if case is not None:
                resolution = resolve_series(case, catalog, keyring=self.keyring)
                return resolution.by_ref.get(ref.ref) or self._linked(catalog, case, resolution, ref)
            if ref.manifest_key is not None:
                return tuple(catalog.series_for_source(ref.manifest_key))
            uid = str(ref.series_uid)
            if catalog.has_series(uid):
                return (uid,)
            if self.keyring is not None and catalog.has_series(self.keyring.uid(uid)):
                return (self.keyring.uid(uid),)
            return ()

    @staticmethod
    def _linked(catalog: Any, case: Case, resolution: Any, ref: SeriesRef) -> tuple[str, ...]:
        """``ref`` through the case links ``caselib demo build`` wrote (no keyring needed).

        The links are the resolved UIDs in the order of the case's references;
        the UIDs no resolvable reference claims belong, in order, to the
        unresolved ones, when there are exactly as many of each.
        """
        from caselib.catalog import CaseNotFoundError

        try:
            linked = catalog.get_case(case.id).series_uids
        except CaseNotFoundError:
            return ()
        claimed = {u for uids in resolution.by_ref.values() for u in uids}
        left = [u for u in linked if u not in claimed]
        if len(left) != len(resolution.missing):
            return ()
        return (dict(zip(resolution.missing, left))[ref.ref],) if ref.ref in resolution.missing else ()

    def series(self, ref: SeriesRef, case: Case | None = None) -> Any:
        """The :class:`caselib.dicom.Series` of ``ref`` read from the archive (cached).

        Raises
        ------
        SeriesNotInArchive
            If the archive holds no series for ``ref``, or cannot be opened.
        """
        from caselib.store.errors import PacsError
        from caselib.ui._archive import open_archive_series

        uids = self.uids(ref, case)
        if not uids:
            raise SeriesNotInArchive(self.root, ref, case_id=case.id if case is not None else None)
        with self._lock:
            if uids[0] not in self._series:
                try:
                    self._series[uids[0]] = open_archive_series(self.root, uids[0])
                except (FileNotFoundError, PacsError) as exc:   # objects gone, or the archive's server down
                    raise SeriesNotInArchive(self.root, ref, case_id=case.id if case is not None else None,
                                             reason="no_archive", detail=str(exc)) from exc
            return self._series[uids[0]]


_readers: dict[Path, ArchiveSeries] = {}


def _reader(archive: str | os.PathLike[str]) -> ArchiveSeries:
    root = Path(archive).resolve()
    with _series_lock:
        if root not in _readers:
            _readers[root] = ArchiveSeries(root)
        return _readers[root]


@dataclass(frozen=True)
class QuizItem:
    """One question of the bank, with the case it comes from (None for bank-only questions)."""

    case_id: str | None
    question: Question


_series_cache: dict[str, Any] = {}
_series_lock = threading.Lock()


def load_series(ref: SeriesRef, *, case_folder: Path | None = None,
                archive: str | os.PathLike[str] | None = None) -> Any:
    """The :class:`caselib.dicom.Series` a series reference names (cached per process).

    With ``archive``, the archive's series (see :class:`ArchiveSeries`).

    Raises
    ------
    LookupError
        When a ``series_uid`` is given without the synthetic case folder that builds it.
    SeriesNotInArchive
        With ``archive``, when the archive holds no series for ``ref``.
    """
    if archive is not None:
        return _reader(archive).series(ref)
    with _series_lock:
        if ref.ref in _series_cache:
            return _series_cache[ref.ref]
    from caselib.dicom import read

    if ref.manifest_key is not None:
        from caselib.data import fetch, fetch_dataset, load_manifest

        key = ref.manifest_key
        path = fetch_dataset(key) if key in load_manifest().datasets else fetch(key)
        series = read(path).series[0]
    else:
        series = _phantom_series(ref.series_uid or "", case_folder)
    with _series_lock:
        _series_cache[ref.ref] = series
    return series


def _phantom_series(uid: str, case_folder: Path | None) -> Any:
    from caselib.data import cache_dir
    from caselib.dicom import read
    from caselib.phantom import build_case_phantom

    if case_folder is None or not (case_folder / "phantom.yaml").is_file():
        raise LookupError(f"series {uid}: expected a manifest key or a synthetic case folder "
                          f"with phantom.yaml, found {case_folder}")
    out = cache_dir() / "phantoms" / case_folder.name
    if not out.is_dir():      # built aside and renamed, so two kernels never read a half-built phantom
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}")
        build_case_phantom(case_folder, tmp)
        try:
            tmp.rename(out)
        except OSError:       # another process finished first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    for series in read(out).series:
        if series.series_instance_uid == uid:
            return series
    raise LookupError(f"series {uid} is not in the phantom built from {case_folder}")


def series_citation(ref: SeriesRef, case: Case | None = None) -> str:
    """The citation to show beside a series: the manifest's, else the case's."""
    if ref.manifest_key is not None:
        from caselib.data import load_manifest

        manifest = load_manifest()
        key = ref.manifest_key
        if key in manifest.datasets:
            return manifest.datasets[key].citation
        if key in manifest.files:
            return manifest.files[key].citation
    return case.citation if case is not None else ""


class CaseLibrary:
    """Cases, PBL cases and questions of one or more case folders, with a catalog over them."""

    def __init__(self, cases: Iterable[tuple[Case, Path]], pbl: Iterable[tuple[PBLCase, Path]] = (), *,
                 archive: str | os.PathLike[str] | None = None) -> None:
        cases = list(cases)
        #: where the images come from: an archive (:class:`ArchiveSeries`), or None for the data cache
        self.archive: ArchiveSeries | None = _reader(archive) if archive is not None else None
        self._cases = {c.id: c for c, _ in cases}
        self._folders = {c.id: f for c, f in cases}
        self._pbl = {p.id: p for p, _ in pbl}
        self.problems: list[Any] = []      # cases that failed validation (caselib cases validate)

    @classmethod
    def from_folders(cls, folders: Iterable[Path], *, archive: str | os.PathLike[str] | None = None
                     ) -> CaseLibrary:
        """Valid cases of every folder (invalid ones are listed in :attr:`problems`)."""
        from caselib.cases.library import load_library

        cases: list[tuple[Case, Path]] = []
        pbl: list[tuple[PBLCase, Path]] = []
        problems: list[Any] = []
        for root in folders:
            loaded = load_library(root)
            cases += [(c, loaded.folders[c.id]) for c in loaded.cases]
            problems += loaded.problems
            for path in sorted(Path(root).rglob("pbl.yaml")):
                pbl.append((load_pbl_case(path), path.parent))
        lib = cls(cases, pbl, archive=archive)
        lib.problems = problems
        return lib

    def __repr__(self) -> str:
        where = f", archive={str(self.archive.root)!r}" if self.archive is not None else ""
        return f"CaseLibrary(cases={len(self._cases)}, pbl={len(self._pbl)}{where})"

    @property
    def case_ids(self) -> list[str]:
        return sorted(self._cases)

    @property
    def pbl_ids(self) -> list[str]:
        return sorted(self._pbl)

    def case(self, case_id: str) -> Case:
        try:
            return self._cases[case_id]
        except KeyError:
            raise KeyError(f"no case {case_id!r}; the library has {', '.join(self.case_ids)}") from None

    def pbl_case(self, case_id: str | None = None) -> PBLCase:
        """A PBL case by id (default: the first one)."""
        if not self._pbl:
            raise LookupError(f"no pbl.yaml under {', '.join(map(str, cases_dirs()))}")
        return self._pbl[case_id or self.pbl_ids[0]]

    def folder(self, case_id: str) -> Path | None:
        return self._folders.get(case_id)

    @cached_property
    def catalog(self) -> Any:
        """An in-memory :class:`caselib.catalog.Catalog` of the cases (tree, search, facets)."""
        from caselib.cases.library import case_record
        from caselib.catalog import Catalog

        catalog = Catalog.open(":memory:")
        catalog.add_cases(case_record(c) for c in self._cases.values())
        return catalog

    def search(self, text: str | None = None, **facets: Any) -> Any:
        """:func:`caselib.cases.library.search_cases` over the library's catalog."""
        from caselib.cases.library import search_cases

        return search_cases(self.catalog, text or None, **facets)

    def case_tree(self, unknown_mode: bool = False) -> Any:
        """:func:`caselib.cases.library.case_tree` of the library's catalog."""
        from caselib.cases.library import case_tree

        return case_tree(self.catalog, unknown=unknown_mode)

    def series(self, case_id: str, index: int = 0) -> Any:
        """The ``index``-th series of a case as a :class:`caselib.dicom.Series`.

        Raises
        ------
        SeriesNotInArchive
            With an archive, when it does not hold that series.
        """
        case = self.case(case_id)
        if self.archive is not None:
            return self.archive.series(case.series[index], case)
        return load_series(case.series[index], case_folder=self.folder(case_id))

    def series_for(self, ref: SeriesRef) -> Any:
        """The series a reference names; a synthetic UID is built from the case that holds it
        (with an archive: resolved through that case, see :class:`ArchiveSeries`)."""
        holder = next((c for c in self._cases.values() if ref in c.series), None)
        if self.archive is not None:
            return self.archive.series(ref, holder)
        return load_series(ref, case_folder=self.folder(holder.id) if holder is not None else None)

    def citation_for(self, ref: SeriesRef) -> str:
        case = next((c for c in self._cases.values() if ref in c.series), None)
        return series_citation(ref, case)

    def citation(self, case_id: str, index: int = 0) -> str:
        case = self.case(case_id)
        return series_citation(case.series[index], case) if case.series else case.citation

    def quiz_items(self, types: Iterable[str] = QUIZ_TYPES) -> list[QuizItem]:
        """Every question of every case whose type the quiz can ask, case by case."""
        wanted = set(types)
        return [QuizItem(c.id, q) for cid in self.case_ids for c in [self._cases[cid]]
                for q in c.questions if q.kind in wanted]


_libraries: dict[Path | None, CaseLibrary] = {}


def open_library(folders: Iterable[str | os.PathLike[str]] | None = None, *,
                 archive: str | os.PathLike[str] | bool | None = None) -> CaseLibrary:
    """The case library of ``folders`` (default :func:`cases_dirs`, opened once per process).

    ``archive``: the archive whose series the library shows; default
    ``$CASELIB_ARCHIVE`` (:func:`archive_from_env`); ``False``: none (images
    from the data cache, whatever the environment says).  The archive is only
    opened when the first image is asked for.
    """
    if archive is None:
        archive = archive_from_env()
    root = Path(archive).resolve() if archive not in (False, True, None) else None  # type: ignore[arg-type]
    if archive is True:
        raise ValueError("archive must be a folder, None (from $CASELIB_ARCHIVE) or False (no archive), got True")
    if folders is not None:
        return CaseLibrary.from_folders((Path(f) for f in folders), archive=root)
    with _series_lock:
        library = _libraries.get(root)
    if library is None:
        library = CaseLibrary.from_folders(cases_dirs(), archive=root)
        with _series_lock:
            library = _libraries.setdefault(root, library)
    return library


def text_of(value: Text | None, lang: str) -> str:
    """``value`` in the interface language (``'zh-CN'``/``'en'``), '' for None."""
    from caselib.i18n import text_lang

    return value.get(text_lang(lang)) if value is not None else ""
