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

__all__ = ["CASES_ENV", "CaseLibrary", "QuizItem", "cases_dirs", "open_library", "load_series",
           "series_citation"]

CASES_ENV = "CASELIB_CASES"

#: question types the quiz can ask without drawing on the image
QUIZ_TYPES = ("single_choice", "multiple_choice", "true_false", "numeric", "window", "ordering")


def cases_dirs() -> list[Path]:
    """Folders searched for cases: ``$CASELIB_CASES`` or the checkout's ``cases/``."""
    env = os.environ.get(CASES_ENV)
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [Path(__file__).resolve().parents[3] / "cases"]


@dataclass(frozen=True)
class QuizItem:
    """One question of the bank, with the case it comes from (None for bank-only questions)."""

    case_id: str | None
    question: Question


_series_cache: dict[str, Any] = {}
_series_lock = threading.Lock()


def load_series(ref: SeriesRef, *, case_folder: Path | None = None) -> Any:
    """The :class:`caselib.dicom.Series` a series reference names (cached per process).

    Raises
    ------
    LookupError
        When a ``series_uid`` is given without the synthetic case folder that builds it.
    """
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

    def __init__(self, cases: Iterable[tuple[Case, Path]], pbl: Iterable[tuple[PBLCase, Path]] = ()) -> None:
        cases = list(cases)
        self._cases = {c.id: c for c, _ in cases}
        self._folders = {c.id: f for c, f in cases}
        self._pbl = {p.id: p for p, _ in pbl}
        self.problems: list[Any] = []      # cases that failed validation (caselib cases validate)

    @classmethod
    def from_folders(cls, folders: Iterable[Path]) -> CaseLibrary:
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
        lib = cls(cases, pbl)
        lib.problems = problems
        return lib

    def __repr__(self) -> str:
        return f"CaseLibrary(cases={len(self._cases)}, pbl={len(self._pbl)})"

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
        """The ``index``-th series of a case as a :class:`caselib.dicom.Series`."""
        case = self.case(case_id)
        return load_series(case.series[index], case_folder=self.folder(case_id))

    def series_for(self, ref: SeriesRef) -> Any:
        """The series a reference names; a synthetic UID is built from the case that holds it."""
        folder = next((self.folder(c.id) for c in self._cases.values() if ref in c.series), None)
        return load_series(ref, case_folder=folder)

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


_library: CaseLibrary | None = None


def open_library(folders: Iterable[str | os.PathLike[str]] | None = None) -> CaseLibrary:
    """The case library of ``folders`` (default :func:`cases_dirs`, opened once per process)."""
    global _library
    if folders is not None:
        return CaseLibrary.from_folders(Path(f) for f in folders)
    if _library is None:
        _library = CaseLibrary.from_folders(cases_dirs())
    return _library


def text_of(value: Text | None, lang: str) -> str:
    """``value`` in the interface language (``'zh-CN'``/``'en'``), '' for None."""
    from caselib.i18n import text_lang

    return value.get(text_lang(lang)) if value is not None else ""
