"""The case library: load it, validate it, find each case's series in an archive, navigate it.

Pure functions over :class:`~caselib.cases.schema.Case` objects and a
:class:`~caselib.catalog.Catalog`; no widgets.  The UI (case browser, unknown
quiz) calls these and only draws the results.

Loading and validating
----------------------
``load_library(root="cases") -> Library``
    Every ``case.yaml`` under ``root`` (sorted by path).  ``Library.cases`` are
    the valid ones, ``Library.problems`` every problem of the others, each a
    :class:`CaseProblem` (file, field path, message).  Never raises for a bad case.
``validate_library(root, *, check_images=False) -> list[CaseProblem]``
    What ``caselib cases validate`` prints: every schema problem of every case
    (all of them, not only the first of each file, see
    :func:`~caselib.cases.schema.collect_case_problems`), duplicate case ids,
    and with ``check_images=True`` every series that the data manifest cannot
    supply and every finding whose slice or ROI centre is outside its image
    (reads headers with :mod:`caselib.dicom`, imported only then).

Finding a case's series after ingest
------------------------------------
Ingest replaces every UID (HMAC of the original with the archive's secret), so
a case cannot name its series by the archive's UIDs.  A case names each series
portably, and :func:`resolve_series` turns that into the archive's UIDs:

* ``manifest_key`` (a data-manifest file key or data-set name): looked up in
  the catalog's ``series_sources`` table, which ingest fills from
  :attr:`caselib.catalog.SeriesRecord.source_refs` (the demo build passes each
  file's manifest key), or by the series' ``dataset`` for a data-set name
  (:meth:`caselib.catalog.Catalog.series_for_source`).
* ``series_uid`` (the *original* UID, e.g. of a synthetic phantom): used as it
  is when the archive already holds it, else mapped with the archive's keyring
  (``keyring.uid(original)``, what de-identification computed).  The keyring
  needs the archive's private secret (:func:`keyring_for_archive`), so only
  the teacher who owns the archive can resolve original UIDs; the catalog never
  stores them.

``sync_catalog(catalog, cases, *, keyring=None) -> list[Resolution]`` writes one
:class:`~caselib.catalog.CaseRecord` per case (title, organ system, diagnosis
*or topic*, difficulty, tags, declared modalities, synthetic flag) with the
resolved series links, so students' notebooks find everything through the
catalog alone (``catalog.get_case(case_id).series_uids``).  Each
:class:`Resolution` lists the references that did not resolve.

Navigation
----------
``case_tree(catalog, *, unknown=False, seed="") -> caselib.catalog.CaseTree``
    Organ system -> diagnosis/topic -> case.  ``unknown=True``: titles and
    diagnoses are not even read; one "Unknown cases" node per system and
    neutral labels "Case N" / "病例 N" numbered by a keyed hash (``seed``).
``search_cases(catalog, text=None, *, organ_system=None, modality=None,
difficulty=None, tags=None, unknown=False, seed="", limit=50, offset=0)``
    Full-text (English and Chinese) and facet search; returns the catalog's
    :class:`~caselib.catalog.SearchResult` with facet counts for organ system,
    difficulty, modality and ``'tags'`` (``{tag: cases}`` over the whole
    filtered set, most frequent first; kept in unknown mode, where ``tags``
    is also a filter).  ``unknown=True`` refuses ``text`` (a text match
    would reveal the diagnosis) and masks every row: ``title_*`` become the
    same "Case N" / "病例 N" labels as the tree, ``diagnosis_*`` None.
``unknown_labels(catalog, *, seed="") -> dict[case_id, (number, label_en, label_zh)]``
    The neutral labels, shared by tree and search.
``unknown_student_view(case, number, resolution=None) -> StudentView``
    :meth:`Case.student_view` with the title replaced by the neutral label,
    ``id`` by ``'case-N'`` (ids may be descriptive), ``source`` hidden and the
    series named by their archive UIDs from ``resolution`` (manifest keys and
    folder names can give the answer away; without a resolution the series are
    left out).  Licence and
    citation stay: CC BY requires the citation wherever the images are shown,
    so a citation may still name the source collection.  Keep the mapping
    ``number -> case`` on the server side to grade.

Examples
--------
>>> from caselib.catalog import Catalog
>>> lib = load_library("cases")                                   # doctest: +SKIP
>>> cat = Catalog.open("demo_archive")                            # doctest: +SKIP
>>> unresolved = [r for r in sync_catalog(cat, lib.cases) if r.missing]  # doctest: +SKIP
>>> [s.system.value for s in case_tree(cat).systems]              # doctest: +SKIP
['cns', 'respiratory', ...]
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from caselib.cases.schema import Case, CaseSchemaError, SeriesRef, StudentView, Text, collect_case_problems, \
    read_case_yaml

if TYPE_CHECKING:  # pragma: no cover
    from caselib.catalog import CaseRecord, CaseRow, CaseTree, Catalog, SearchResult

__all__ = [
    "CaseProblem",
    "Library",
    "Resolution",
    "load_library",
    "validate_library",
    "case_record",
    "resolve_series",
    "sync_catalog",
    "keyring_for_archive",
    "case_tree",
    "search_cases",
    "unknown_labels",
    "unknown_student_view",
]


class UidKeyring(Protocol):
    """What :func:`resolve_series` needs of :class:`caselib.deid.Keyring`."""

    def uid(self, uid: str) -> str: ...


@dataclass(frozen=True)
class CaseProblem:
    """One problem of one case file: ``str()`` is the line ``caselib cases validate`` prints."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Library:
    """The cases under a folder: the valid ones and every problem of the others."""

    root: Path
    cases: list[Case] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)   # case id -> folder
    problems: list[CaseProblem] = field(default_factory=list)

    def get(self, case_id: str) -> Case:
        """The case ``case_id`` (KeyError naming the ids there are)."""
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(f"no case {case_id!r} under {self.root}; there are {sorted(self.folders)}")


def _problem(err: CaseSchemaError) -> CaseProblem:
    return CaseProblem(file=err.origin or "", path=err.path, message=str(err))


def load_library(root: str | os.PathLike[str] = "cases") -> Library:
    """Load every ``case.yaml`` under ``root``; invalid cases become problems, never exceptions."""
    lib = Library(root=Path(root))
    if not lib.root.is_dir():
        lib.problems.append(CaseProblem(str(root), "", f"{root}: expected a folder of cases, found nothing"))
        return lib
    for case_yaml in sorted(lib.root.rglob("case.yaml")):
        try:
            data, origin = read_case_yaml(case_yaml, "case.yaml")
        except CaseSchemaError as exc:
            lib.problems.append(_problem(exc))
            continue
        problems = collect_case_problems(data, origin=origin)
        if problems:
            lib.problems.extend(_problem(p) for p in problems)
            continue
        case = Case.from_dict(data, origin=origin)
        if case.id in lib.folders:
            lib.problems.append(CaseProblem(origin, "id", f"{origin}: id: expected an id no other case has "
                                            f"({lib.folders[case.id]} has it), found {case.id!r}"))
            continue
        lib.cases.append(case)
        lib.folders[case.id] = case_yaml.parent
    return lib


def validate_library(root: str | os.PathLike[str] = "cases", *, check_images: bool = False) -> list[CaseProblem]:
    """Every problem of every case under ``root`` (empty list: all valid).

    With ``check_images`` each real case's series must be in the data manifest
    and resolvable to local files (:func:`caselib.data.fetch`), and each
    finding must point at an existing slice with its ROI centre inside the
    image.  Synthetic cases' series are generated, so only their findings'
    slice numbers are checked against ``phantom.yaml`` when there is one.
    """
    lib = load_library(root)
    problems = list(lib.problems)
    if check_images:
        for case in lib.cases:
            problems.extend(_image_problems(case, lib.folders[case.id]))
    return problems


def _image_problems(case: Case, folder: Path) -> list[CaseProblem]:
    origin = str(folder / "case.yaml")
    out: list[CaseProblem] = []

    def bad(path: str, expected: str, found: str) -> None:
        out.append(CaseProblem(origin, path, f"{origin}: {path}: expected {expected}, found {found}"))

    if case.synthetic:
        spec_file = folder / "phantom.yaml"
        if spec_file.is_file():
            import yaml

            spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
            n, rows, cols = spec["shape"]
            for i, f in enumerate(case.findings):
                if not 0 <= f.slice_index < n:
                    bad(f"findings[{i}].slice_index", f"a slice of the phantom (0..{n - 1})", str(f.slice_index))
                if not (0 <= f.roi.row < rows and 0 <= f.roi.col < cols):
                    bad(f"findings[{i}].roi", f"a centre inside the {rows} x {cols} image",
                        f"({f.roi.row:g}, {f.roi.col:g})")
        return out
    from caselib.data import fetch, fetch_dataset, load_manifest
    from caselib.dicom import read
    from caselib.errors import CaselibError

    manifest = load_manifest()
    series: dict[SeriesRef, Any] = {}
    for i, ref in enumerate(case.series):
        if ref.manifest_key is None:
            bad(f"series[{i}]", "a data-manifest key for a real case", f"series_uid {ref.ref!r}")
            continue
        key = ref.manifest_key
        if key not in manifest.datasets and key not in manifest.files:
            bad(f"series[{i}].manifest_key", "a file or data set of data_manifest.yaml", repr(key))
            continue
        try:
            path = fetch_dataset(key) if key in manifest.datasets else fetch(key)
            series[ref] = read(path).only_series()
        except (CaselibError, OSError, ValueError) as exc:
            bad(f"series[{i}].manifest_key", f"one readable series from {key!r}", f"{type(exc).__name__}: {exc}")
    for i, f in enumerate(case.findings):
        s = series.get(f.series)
        if s is None:
            continue
        if not 0 <= f.slice_index < len(s):
            bad(f"findings[{i}].slice_index", f"a slice of {f.series.ref} (0..{len(s) - 1})", str(f.slice_index))
        if not (0 <= f.roi.row < s.rows and 0 <= f.roi.col < s.columns):
            bad(f"findings[{i}].roi", f"a centre inside the {s.rows} x {s.columns} image",
                f"({f.roi.row:g}, {f.roi.col:g})")
    return out


# --------------------------------------------------------------------------- series resolution


@dataclass(frozen=True)
class Resolution:
    """Where a case's series are in one archive.

    ``series_uids``: the archive UIDs, in the order of ``case.series`` (a data
    set may give several); ``by_ref``: each reference's UIDs; ``missing``: the
    references with none (not ingested, quarantined, or an original UID without
    the keyring).
    """

    case_id: str
    series_uids: tuple[str, ...]
    by_ref: dict[str, tuple[str, ...]]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """True when every series of the case is in the archive."""
        return not self.missing


def keyring_for_archive(archive: str | os.PathLike[str]) -> UidKeyring:
    """The UID keyring of ``archive`` (reads its private secret; teacher side only).

    Raises
    ------
    caselib.deid.SecretError
        If the archive has no secret (never ingested into, or ``private/`` not shared).
    """
    from caselib.archive import ArchiveLayout
    from caselib.deid import Keyring, load_secret

    return Keyring(load_secret(ArchiveLayout.at(archive).secret, create=False))


def resolve_series(case: Case, catalog: Catalog, *, keyring: UidKeyring | None = None) -> Resolution:
    """The archive UIDs of ``case.series`` (see the module docstring for the rules)."""
    by_ref: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    ordered: list[str] = []
    for ref in case.series:
        if ref.manifest_key is not None:
            uids = tuple(catalog.series_for_source(ref.manifest_key))
        elif catalog.has_series(str(ref.series_uid)):
            uids = (str(ref.series_uid),)
        elif keyring is not None and catalog.has_series(keyring.uid(str(ref.series_uid))):
            uids = (keyring.uid(str(ref.series_uid)),)
        else:
            uids = ()
        by_ref[ref.ref] = uids
        if not uids:
            missing.append(ref.ref)
        ordered.extend(u for u in uids if u not in ordered)
    return Resolution(case.id, tuple(ordered), by_ref, tuple(missing))


def case_record(case: Case, series_uids: Sequence[str] = ()) -> CaseRecord:
    """The catalog's record of ``case`` (diagnosis, or the topic where the source states none)."""
    from caselib.catalog import CaseRecord

    label = case.diagnosis if case.diagnosis is not None else case.topic
    assert label is not None  # Case guarantees exactly one
    return CaseRecord(case.id, case.title.en, case.title.zh, case.organ_system,
                      diagnosis_en=label.en, diagnosis_zh=label.zh, difficulty=case.difficulty,
                      tags=case.tags, synthetic=case.synthetic, series_uids=tuple(series_uids),
                      modalities=case.modality)


def sync_catalog(catalog: Catalog, cases: Iterable[Case], *,
                 keyring: UidKeyring | None = None) -> list[Resolution]:
    """Write every case into ``catalog`` with its resolved series links; converges on re-runs."""
    cases = list(cases)
    resolutions = [resolve_series(c, catalog, keyring=keyring) for c in cases]
    catalog.add_cases(case_record(c, r.series_uids) for c, r in zip(cases, resolutions))
    return resolutions


# --------------------------------------------------------------------------- navigation


def case_tree(catalog: Catalog, *, unknown: bool = False, seed: str = "") -> CaseTree:
    """Organ system -> diagnosis/topic -> case (``unknown``: neutral labels only)."""
    return catalog.case_tree(unknown_mode=unknown, seed=seed)


def unknown_labels(catalog: Catalog, *, seed: str = "") -> dict[str, tuple[int, str, str]]:
    """``case_id -> (number, 'Case N', '病例 N')`` as the unknown-mode tree numbers them."""
    tree = catalog.case_tree(unknown_mode=True, seed=seed)
    return {leaf.case_id: (leaf.number, leaf.label_en, leaf.label_zh)
            for s in tree.systems for t in s.topics for leaf in t.cases}


def search_cases(catalog: Catalog, text: str | None = None, *, organ_system: Any = None,
                 modality: Any = None, difficulty: Any = None, tags: Any = None,
                 unknown: bool = False, seed: str = "", limit: int = 50,
                 offset: int = 0) -> SearchResult[CaseRow]:
    """Text and facet search over the cases; ``unknown`` masks titles and diagnoses.

    Raises
    ------
    ValueError
        If ``text`` is given in unknown mode (a text hit would reveal the diagnosis).
    """
    if unknown and text:
        raise ValueError("text search is not available in unknown mode: a match on a title or "
                         f"diagnosis would reveal it (got text={text!r}); filter by facets only")
    filters = dict(organ_system=organ_system, modality=modality, difficulty=difficulty, tags=tags)
    result = catalog.search(text, limit=limit, offset=offset, **filters)
    if "tags" not in result.facets:  # a catalog that counts tags itself is used as it is
        result = dataclasses.replace(result, facets={**result.facets,
                                                     "tags": _tag_facet(catalog, text, result, offset, filters)})
    if not unknown:
        return result
    labels = unknown_labels(catalog, seed=seed)
    rows = [dataclasses.replace(r, title_en=labels[r.case_id][1], title_zh=labels[r.case_id][2],
                                diagnosis_en=None, diagnosis_zh=None, score=None)
            for r in result.rows]
    rows.sort(key=lambda r: labels[r.case_id][0])
    return dataclasses.replace(result, rows=rows)


def _tag_facet(catalog: Catalog, text: str | None, result: SearchResult[CaseRow], offset: int,
               filters: dict[str, Any]) -> dict[str, int]:
    """``{tag: number of cases}`` over the whole filtered set, most frequent first, then by name.

    The page already holds every hit when it starts at 0 and is not full;
    otherwise the filtered set is read once more in full (tags are counted
    from the rows, so only the cases' own tags appear, each case once).  That
    costs about 8 microseconds per hit (0.6 s for 80,000 cases); the catalog's
    bitmap index could count them in microseconds, as it does the other facets.
    """
    rows = result.rows
    if offset != 0 or len(rows) < result.total:
        rows = catalog.search(text, limit=result.total, offset=0, **filters).rows
    counts: dict[str, int] = {}
    for row in rows:
        for tag in set(row.tags):
            counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def unknown_student_view(case: Case, number: int, resolution: Resolution | None = None) -> StudentView:
    """What a student sees of an unknown case: the student view titled "Case N" / "病例 N".

    The series are the archive UIDs of ``resolution`` (:func:`resolve_series`)
    or none at all: manifest keys such as ``tcia-gbm-mr`` name the answer.
    """
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"number must be a positive int (the unknown-mode label), got {number!r}")
    if resolution is not None and resolution.case_id != case.id:
        raise ValueError(f"resolution is for case {resolution.case_id!r}, not {case.id!r}")
    series = tuple(SeriesRef(series_uid=u) for u in resolution.series_uids) if resolution is not None else ()
    return dataclasses.replace(case.student_view(), id=f"case-{number}", series=series,
                               title=Text(zh=f"病例 {number}", en=f"Case {number}"),
                               source="(shown when the case is revealed)")
