"""Input records, vocabularies and errors of the catalog.

The ingest pipeline (and the teaching-content loader) hand the catalog plain,
frozen records: :class:`PatientRecord`, :class:`StudyRecord`,
:class:`SeriesRecord`, :class:`InstanceRecord` and :class:`CaseRecord`.  Their
constructors validate and normalise, so a record that exists is one the catalog
accepts (the highdicom habit): strings become enums once, on entry.

Everything here is already de-identified: a patient is a pseudonym, a study
date is the *shifted* date written by :mod:`caselib.deid`.
"""
from __future__ import annotations

import datetime as _dt
import enum
import re
from dataclasses import dataclass, field

from caselib.errors import CaselibError

__all__ = [
    "CatalogError",
    "CatalogSchemaError",
    "FullTextUnavailableError",
    "CaseNotFoundError",
    "OrganSystem",
    "Difficulty",
    "PatientRecord",
    "StudyRecord",
    "SeriesRecord",
    "InstanceRecord",
    "CaseRecord",
]


# --------------------------------------------------------------------------- errors


class CatalogError(CaselibError):
    """The catalog database is unusable or a record refers to something missing."""


class CatalogSchemaError(CatalogError):
    """The catalog file's schema version is newer than this caselib understands."""


class FullTextUnavailableError(CatalogError):
    """The ``sqlite3`` module of this Python was built without FTS5."""


class CaseNotFoundError(CatalogError, LookupError):
    """No teaching case has the requested ``case_id``."""


# --------------------------------------------------------------------------- vocabularies


class OrganSystem(str, enum.Enum):
    """The nine organ systems of the case tree, in teaching order.

    The value is the stable code stored in the catalog; :attr:`label_en` and
    :attr:`label_zh` are display labels.  The Chinese labels follow the
    chapters of the national textbook *医学影像学* (人民卫生出版社), which uses
    循环系统 for the cardiovascular chapter; 心血管系统 is accepted as an alias.

    Examples
    --------
    >>> OrganSystem.parse("呼吸系统")
    <OrganSystem.RESPIRATORY: 'respiratory'>
    >>> OrganSystem.parse("Head & neck").label_zh
    '头颈部'
    >>> OrganSystem.parse("心血管系统") is OrganSystem.CARDIOVASCULAR
    True
    """

    CNS = "cns"
    HEAD_NECK = "head_neck"
    RESPIRATORY = "respiratory"
    CARDIOVASCULAR = "cardiovascular"
    BREAST = "breast"
    DIGESTIVE = "digestive"
    URINARY = "urinary"
    REPRODUCTIVE = "reproductive"
    MUSCULOSKELETAL = "musculoskeletal"

    @property
    def label_en(self) -> str:
        """English label, e.g. ``'Respiratory system'``."""
        return _SYSTEM_LABELS[self][0]

    @property
    def label_zh(self) -> str:
        """Chinese (zh-CN) label, e.g. ``'呼吸系统'``."""
        return _SYSTEM_LABELS[self][1]

    @property
    def sort_order(self) -> int:
        """Position in the case tree (0 = CNS)."""
        return list(OrganSystem).index(self)

    @classmethod
    def parse(cls, value: OrganSystem | str) -> OrganSystem:
        """Return the organ system named by a code, an English or Chinese label or an alias.

        Raises
        ------
        ValueError
            If ``value`` names no organ system; the message lists the codes.
        """
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(f"organ system must be a str or OrganSystem, got {type(value).__name__}")
        key = _norm_label(value)
        try:
            return _SYSTEM_ALIASES[key]
        except KeyError:
            codes = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown organ system {value!r}: expected one of {codes} "
                             "or their English/Chinese labels") from None


_SYSTEM_LABELS: dict[OrganSystem, tuple[str, str, tuple[str, ...]]] = {
    OrganSystem.CNS: ("Central nervous system", "中枢神经系统",
                      ("cns", "neuro", "neuroradiology", "神经系统")),
    OrganSystem.HEAD_NECK: ("Head and neck", "头颈部", ("head & neck", "head_neck", "头颈")),
    OrganSystem.RESPIRATORY: ("Respiratory system", "呼吸系统", ("respiratory", "pulmonary")),
    OrganSystem.CARDIOVASCULAR: ("Cardiovascular system", "循环系统",
                                 ("cardiovascular", "circulatory system", "cardiac",
                                  "心血管系统", "心血管")),
    OrganSystem.BREAST: ("Breast", "乳腺", ("乳腺系统", "mammary")),
    OrganSystem.DIGESTIVE: ("Digestive system", "消化系统",
                            ("digestive", "gastrointestinal", "gi", "abdominal")),
    OrganSystem.URINARY: ("Urinary system", "泌尿系统", ("urinary", "renal")),
    OrganSystem.REPRODUCTIVE: ("Reproductive system", "生殖系统", ("reproductive", "genital")),
    OrganSystem.MUSCULOSKELETAL: ("Musculoskeletal system", "骨骼肌肉系统",
                                  ("musculoskeletal", "msk", "肌肉骨骼系统", "骨关节系统")),
}


def _norm_label(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


_SYSTEM_ALIASES: dict[str, OrganSystem] = {}
for _s, (_en, _zh, _aliases) in _SYSTEM_LABELS.items():
    for _name in (_s.value, _en, _zh, *_aliases):
        _SYSTEM_ALIASES[_norm_label(_name)] = _s


class Difficulty(str, enum.Enum):
    """Level of a teaching case.

    Examples
    --------
    >>> Difficulty.parse("中级")
    <Difficulty.INTERMEDIATE: 'intermediate'>
    >>> Difficulty.ADVANCED.label_zh
    '高级'
    """

    PRIMARY = "primary"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"

    @property
    def label_en(self) -> str:
        """English label (``'Primary'``, ...)."""
        return self.value.capitalize()

    @property
    def label_zh(self) -> str:
        """Chinese label (初级, 中级, 高级)."""
        return {"primary": "初级", "intermediate": "中级", "advanced": "高级"}[self.value]

    @classmethod
    def parse(cls, value: Difficulty | str) -> Difficulty:
        """Return the level named by its code or its English/Chinese label."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(f"difficulty must be a str or Difficulty, got {type(value).__name__}")
        key = value.strip().casefold()
        for d in cls:
            if key in (d.value, d.label_zh):
                return d
        raise ValueError(f"unknown difficulty {value!r}: expected primary, intermediate or advanced "
                         "(初级, 中级, 高级)")


# --------------------------------------------------------------------------- records

_AGE = re.compile(r"^\d{3}[DWMY]$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def _req_str(obj: object, name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{type(obj).__name__}.{name} must be a non-empty str, got {value!r}")


def _opt_str(obj: object, name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{type(obj).__name__}.{name} must be a str or None, got {type(value).__name__}")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A de-identified patient.

    Parameters
    ----------
    pseudonym : str
        The pseudonymous patient ID written by de-identification (PS3.15 E.1).
    sex : {'M', 'F', 'O'} or None
        (0010,0040) Patient's Sex.
    age : str or None
        (0010,1010) Patient's Age as a DICOM Age String, e.g. ``'045Y'``.
    synthetic : bool
        True for generated (non-patient) data.

    Examples
    --------
    >>> PatientRecord("ANON-0001", sex="F", age="045Y").age_years
    45.0
    """

    pseudonym: str
    sex: str | None = None
    age: str | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        _req_str(self, "pseudonym", self.pseudonym)
        if self.sex is not None:
            sex = self.sex.strip().upper() or None
            if sex not in (None, "M", "F", "O"):
                raise ValueError(f"PatientRecord.sex must be 'M', 'F', 'O' or None "
                                 f"((0010,0040) Patient's Sex), got {self.sex!r}")
            _set(self, "sex", sex)
        if self.age is not None and not _AGE.match(self.age):
            raise ValueError(f"PatientRecord.age must be a DICOM Age String like '045Y' "
                             f"((0010,1010) Patient's Age), got {self.age!r}")

    @property
    def age_years(self) -> float | None:
        """The age in years (``'006M'`` -> 0.5), or None."""
        if self.age is None:
            return None
        return round(int(self.age[:3]) * _AGE_UNIT_YEARS[self.age[3]], 3)


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """A de-identified study.

    Parameters
    ----------
    study_uid : str
        (0020,000D) Study Instance UID, after UID remapping.
    patient_pseudonym : str
        The :attr:`PatientRecord.pseudonym` it belongs to.
    study_date : str, datetime.date or None
        (0008,0020) Study Date **after date shifting**, as an ISO date
        (``'2031-04-07'``) or a ``datetime.date``; stored as ISO text.
    accession : str or None
        (0008,0050) Accession Number (pseudonymised or None).
    description : str or None
        (0008,1030) Study Description.

    Examples
    --------
    >>> StudyRecord("1.2.3", "ANON-0001", study_date="2031-04-07").study_date
    '2031-04-07'
    """

    study_uid: str
    patient_pseudonym: str
    study_date: str | None = None
    accession: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        _req_str(self, "study_uid", self.study_uid)
        _req_str(self, "patient_pseudonym", self.patient_pseudonym)
        _opt_str(self, "accession", self.accession)
        _opt_str(self, "description", self.description)
        d: object = self.study_date
        if isinstance(d, _dt.datetime):
            d = d.date()
        if isinstance(d, _dt.date):
            _set(self, "study_date", d.isoformat())
        elif d is not None:
            try:
                _set(self, "study_date", _dt.date.fromisoformat(str(d)).isoformat())
            except ValueError:
                raise ValueError(f"StudyRecord.study_date must be an ISO date like '2031-04-07' "
                                 f"(the shifted (0008,0020) Study Date), got {d!r}") from None


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """A de-identified series, one row of the catalog's main table.

    Parameters
    ----------
    series_uid, study_uid : str
        (0020,000E) Series Instance UID and the parent (0020,000D).
    modality : str
        (0008,0060) Modality, e.g. ``'CT'``; upper-cased.
    body_part : str or None
        (0018,0015) Body Part Examined; upper-cased.
    description : str or None
        (0008,103E) Series Description.
    series_number : int or None
        (0020,0011) Series Number.
    n_instances, n_frames : int
        Instances in the series and frames over all of them.
    rows, columns : int or None
        (0028,0010) Rows and (0028,0011) Columns of the first image.
    pixel_spacing : (float, float) or None
        (0028,0030) Pixel Spacing in mm, (row spacing, column spacing).
    slice_thickness : float or None
        (0018,0050) Slice Thickness in mm.
    geometry_warnings : tuple of str
        Messages from geometry checks (:mod:`caselib.dicom`).
    dataset : str or None
        The data-manifest data set (or local collection) the series came from.
    source_refs : tuple of str
        Data-manifest keys of the files (or data set) the series was ingested
        from.  The catalog keeps the *union* over every record of the series
        (one per object), so a teaching case that names a file by its manifest
        key finds the de-identified series (:meth:`Catalog.series_for_source`).
        Never put identifying values here: the catalog is shared with students.

    Examples
    --------
    >>> s = SeriesRecord("1.2.3.4", "1.2.3", "ct", body_part="chest", pixel_spacing=(0.7, 0.7))
    >>> s.modality, s.body_part
    ('CT', 'CHEST')
    """

    series_uid: str
    study_uid: str
    modality: str
    body_part: str | None = None
    description: str | None = None
    series_number: int | None = None
    n_instances: int = 0
    n_frames: int = 0
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    geometry_warnings: tuple[str, ...] = ()
    dataset: str | None = None
    source_refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _req_str(self, "series_uid", self.series_uid)
        refs = (self.source_refs,) if isinstance(self.source_refs, str) else tuple(self.source_refs or ())
        for ref in refs:
            if not isinstance(ref, str) or not ref.strip():
                raise ValueError(f"SeriesRecord.source_refs must be non-empty strings (manifest keys), got {ref!r}")
        _set(self, "source_refs", tuple(dict.fromkeys(refs)))
        _req_str(self, "study_uid", self.study_uid)
        _req_str(self, "modality", self.modality)
        _set(self, "modality", self.modality.strip().upper())
        _opt_str(self, "body_part", self.body_part)
        if self.body_part is not None:
            _set(self, "body_part", self.body_part.strip().upper() or None)
        _opt_str(self, "description", self.description)
        for name in ("n_instances", "n_frames"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"SeriesRecord.{name} must be an int >= 0, got {v!r}")
        if self.pixel_spacing is not None:
            ps = tuple(float(x) for x in self.pixel_spacing)
            if len(ps) != 2 or min(ps) <= 0:
                raise ValueError("SeriesRecord.pixel_spacing must be two positive mm values "
                                 f"((0028,0030) Pixel Spacing, row then column), got {self.pixel_spacing!r}")
            _set(self, "pixel_spacing", ps)
        if isinstance(self.geometry_warnings, str):
            _set(self, "geometry_warnings", (self.geometry_warnings,))
        else:
            _set(self, "geometry_warnings", tuple(self.geometry_warnings))


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One stored DICOM object of the archive.

    Parameters
    ----------
    sop_uid, series_uid : str
        (0008,0018) SOP Instance UID and the parent (0020,000E).
    instance_number : int or None
        (0020,0013) Instance Number.
    path : str
        POSIX path **relative to the archive root** (no leading ``/``, no ``..``).
    sha256 : str
        Lower-case hex digest of the stored file.
    size : int
        File size in bytes.
    transfer_syntax : str
        (0002,0010) Transfer Syntax UID of the stored file.
    sop_class_uid : str or None
        (0008,0016) SOP Class UID.
    n_frames : int
        (0028,0008) Number of Frames (1 for single-frame objects).

    Examples
    --------
    >>> InstanceRecord("1.2.3.4.1", "1.2.3.4", 1, "ab/cd/1.dcm", "0" * 64, 1024,
    ...                "1.2.840.10008.1.2.1").path
    'ab/cd/1.dcm'
    """

    sop_uid: str
    series_uid: str
    instance_number: int | None
    path: str
    sha256: str
    size: int
    transfer_syntax: str
    sop_class_uid: str | None = None
    n_frames: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.sop_uid, str) or not self.sop_uid:
            _req_str(self, "sop_uid", self.sop_uid)
        if not isinstance(self.series_uid, str) or not self.series_uid:
            _req_str(self, "series_uid", self.series_uid)
        p = self.path
        if not isinstance(p, str) or not p or p[0] == "/" or "\\" in p or ".." in p.split("/") \
                or (len(p) > 1 and p[1] == ":"):
            raise ValueError("InstanceRecord.path must be a POSIX path relative to the archive root "
                             f"(no leading '/', no '..', no drive), got {p!r}")
        if not isinstance(self.sha256, str) or not _SHA256.match(self.sha256):
            raise ValueError(f"InstanceRecord.sha256 must be 64 lower-case hex digits, got {self.sha256!r}")
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"InstanceRecord.size must be an int >= 0 (bytes), got {self.size!r}")
        if not isinstance(self.transfer_syntax, str) or not self.transfer_syntax:
            raise ValueError("InstanceRecord.transfer_syntax must be a UID such as '1.2.840.10008.1.2.1', "
                             f"got {self.transfer_syntax!r}")


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A teaching case as the catalog stores it (content lives in ``caselib.cases``).

    Parameters
    ----------
    case_id : str
        Stable identifier, e.g. ``'resp-0012'``.
    title_en, title_zh : str
        Titles; at least one must be non-empty.
    organ_system : OrganSystem or str
        Code, label (either language) or alias, see :meth:`OrganSystem.parse`.
    diagnosis_en, diagnosis_zh : str or None
        Diagnosis or topic; groups the cases in the tree.
    difficulty : Difficulty or str
        ``'primary'``, ``'intermediate'`` or ``'advanced'`` (or 初级/中级/高级).
    tags : tuple of str
        Free tags, matched case-insensitively.
    synthetic : bool
        True for generated (non-patient) cases.
    series_uids : tuple of str
        The series shown by the case, in order.  A link may name a series not
        yet ingested; it resolves when the series arrives.
    modalities : tuple of str
        Modalities the case declares (its ``case.yaml``); the modality facet
        counts them together with those of the linked series, so a case is
        found by modality before its series are ingested.

    Examples
    --------
    >>> c = CaseRecord("resp-1", "Lung cancer", "肺癌", "呼吸系统", difficulty="中级")
    >>> c.organ_system, c.difficulty
    (<OrganSystem.RESPIRATORY: 'respiratory'>, <Difficulty.INTERMEDIATE: 'intermediate'>)
    """

    case_id: str
    title_en: str
    title_zh: str
    organ_system: OrganSystem | str
    diagnosis_en: str | None = None
    diagnosis_zh: str | None = None
    difficulty: Difficulty | str = Difficulty.PRIMARY
    tags: tuple[str, ...] = ()
    synthetic: bool = False
    series_uids: tuple[str, ...] = field(default=())
    modalities: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _req_str(self, "case_id", self.case_id)
        if self.case_id != self.case_id.strip():
            raise ValueError(f"CaseRecord.case_id must not start or end with spaces, got {self.case_id!r}")
        for name in ("title_en", "title_zh"):
            v = getattr(self, name)
            if v is None:
                _set(self, name, "")
            elif not isinstance(v, str):
                raise TypeError(f"CaseRecord.{name} must be a str, got {type(v).__name__}")
        if not (self.title_en.strip() or self.title_zh.strip()):
            raise ValueError(f"CaseRecord {self.case_id!r} needs title_en or title_zh")
        _opt_str(self, "diagnosis_en", self.diagnosis_en)
        _opt_str(self, "diagnosis_zh", self.diagnosis_zh)
        _set(self, "organ_system", OrganSystem.parse(self.organ_system))
        _set(self, "difficulty", Difficulty.parse(self.difficulty))
        tags = (self.tags,) if isinstance(self.tags, str) else tuple(self.tags)
        seen: dict[str, str] = {}
        for t in tags:
            if not isinstance(t, str):
                raise TypeError(f"CaseRecord.tags must be strings, got {t!r}")
            t = " ".join(t.split())
            if t and t.casefold() not in seen:
                seen[t.casefold()] = t
        _set(self, "tags", tuple(seen.values()))
        uids = (self.series_uids,) if isinstance(self.series_uids, str) else tuple(self.series_uids)
        for u in uids:
            if not isinstance(u, str) or not u:
                raise ValueError(f"CaseRecord.series_uids must be non-empty strings, got {u!r}")
        _set(self, "series_uids", tuple(dict.fromkeys(uids)))
        mods = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
        for m in mods:
            if not isinstance(m, str) or not m.strip():
                raise ValueError(f"CaseRecord.modalities must be non-empty strings such as 'CT', got {m!r}")
        _set(self, "modalities", tuple(dict.fromkeys(m.strip().upper() for m in mods)))
