"""The de-identifier: a profile compiled against Table E.1-1, applied in one walk.

:class:`Deidentifier` compiles a :class:`~caselib.deid.profile.Profile` once into a
per-tag plan (a dict from tag to action, plus the repeating-group patterns and the
private allow-list) and then, for each dataset, walks every element once, at every
nesting level, building a new dataset; the input is never modified.  Elements that
are kept unchanged are copied as pydicom read them (raw bytes, not decoded), so a
kept text value is byte-for-byte the original and its character set stays truthful.

What happens to an element (after the profile's options are applied to its row and
compound codes resolved, see :mod:`caselib.deid.table`):

- ``K``: kept; a sequence is walked; a UID is remapped unless it is a class UID.
- ``X``: removed.  ``Z``: emptied (a sequence loses its items).
- ``D``: a dummy value of the VR (``ANONYMIZED``, ``19000101``, ``0``...); a
  sequence is walked; a UID is remapped.
- ``C``: dates shifted by the patient's offset (removed without a dates option),
  times kept, text scrubbed of the file's identifiers (or removed, by the step's
  mode), sequences walked, UIDs remapped, other values kept.
- ``U``: every instance UID replaced by the keyed ``2.25`` UID; a sequence walked.
- Top-level Patient's Name and Patient ID: the archive pseudonym.
- Patient's Age when retained: capped at ``090Y``.
- Private elements: removed unless allow-listed (Retain Safe Private); a Private
  Creator is kept only for blocks with a kept element.
- Not in the table: kept, except DA/DT (treated like Study Date, PS3.15 E.1.1 note
  4), group lengths (removed; pydicom recomputes the File Meta's), overlay planes
  (the whole 60xx group goes with its Overlay Data) and UIDs (remapped unless class).

Class UIDs are never changed: a value under the DICOM root ``1.2.840.10008`` or in
pydicom's UID registry, and any value of an attribute that holds a class UID (SOP
Class UID, Referenced SOP Class UID, Transfer Syntax UID, Coding Scheme UID...).

Finally the File Meta Information is replaced by one describing caselib (PS3.15
E.1.1 item 7; Media Storage SOP Instance UID equal to the new SOP Instance UID,
preamble zeroed), and the marks are set: Patient Identity Removed ``YES``,
De-identification Method, De-identification Method Code Sequence (113100 and the
options), Longitudinal Temporal Information Modified.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.PatientName, ds.PatientID, ds.StudyDate = "Doe^Jane", "MRN-0042", "20240315"
>>> ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
>>> deid = Deidentifier("teaching", secret=b"0" * 32)
>>> result = deid.deidentify(ds)
>>> result.dataset.PatientName, result.dataset.PatientID
('CL-000001', 'CL-000001')
>>> result.dataset.StudyInstanceUID.startswith("2.25."), result.dataset.PatientIdentityRemoved
(True, 'YES')
>>> ds.PatientName                                  # the input is untouched
'Doe^Jane'
"""
from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from pydicom import config as _pydicom_config
from pydicom.datadict import DicomDictionary, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.valuerep import PersonName

from caselib.deid.encode import encode_dataset
from caselib.deid.keys import Keyring
from caselib.deid.pixels import pixel_phi_risk
from caselib.deid.private import private_creator_of
from caselib.deid.profile import (
    BasicProfile,
    CleanDescriptors,
    CleanStructuredContent,
    Profile,
    PseudonymizePatient,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    RetainPatientCharacteristics,
    RetainSafePrivate,
    get_profile,
)
from caselib.deid.registry import MemoryPseudonymRegistry, PseudonymRegistry, format_pseudonym
from caselib.deid.table import Action, ConfidentialityTable, Option, TableRow, load_table, resolve_action
from caselib.deid.text import (
    Needle,
    compile_matcher,
    harvest_kind,
    matcher_token,
    needles_from_value,
    scrub_text,
    unique_needles,
)
from caselib.deid.values import cap_age, dummy_value, is_well_known_uid, shift_date, shift_datetime

__all__ = [
    "Deidentifier",
    "DeidResult",
    "ActionRecord",
    "harvest_identifiers",
    "patient_identity",
    "dataset_to_bytes",
    "CLASS_UID_TAGS",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
]

try:
    from importlib.metadata import version as _version

    _CASELIB_VERSION = _version("caselib")
except Exception:  # pragma: no cover - not installed
    _CASELIB_VERSION = "0"

#: Implementation Class UID written into the File Meta of every de-identified file
IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:caselib:implementation-class').int}"
IMPLEMENTATION_VERSION_NAME = f"CASELIB_{_CASELIB_VERSION}"[:16]

# internal actions (ints for speed in the walk)
_IGNORE = _pydicom_config.IGNORE
_KEEP, _REMOVE, _EMPTY, _DUMMY, _CLEAN, _CLEAN_REMOVE, _UID, _AGE, _PRIVATE = range(9)
_SIMPLE = {Action.K: _KEEP, Action.X: _REMOVE, Action.Z: _EMPTY, Action.D: _DUMMY, Action.C: _CLEAN,
           Action.U: _UID}

_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
_ISSUER = 0x00100021
_BIRTH_DATE = 0x00100030
_PATIENT_AGE = 0x00101010
_SOP_INSTANCE_UID = 0x00080018
_SOP_CLASS_UID = 0x00080016
_STUDY_UID = 0x0020000D
_GRAPHIC_ANNOTATION_SEQ = 0x00700001
_UNFORMATTED_TEXT = 0x00700006
_GRAPHIC_TAGS = frozenset({"(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)"})

_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT", "UR", "PN"})
_STR_VRS = _TEXT_VRS | {"AS", "DA", "DS", "DT", "IS", "TM", "UI"}
#: maximum value lengths (PS3.5 Table 6.2-1): a cleaned value is also made to fit its VR
_MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240}


def _class_uid_tags() -> frozenset[int]:
    import re

    pattern = re.compile(r"(SOPClass|ClassUID|SOPClasses|TransferSyntax|CodingSchemeUID)")
    tags = {tag for tag, entry in DicomDictionary.items() if entry[0] == "UI" and pattern.search(entry[4])}
    return frozenset(tags)


#: attributes whose values are class UIDs (never remapped, even if not well known)
CLASS_UID_TAGS = _class_uid_tags()


class ActionRecord(NamedTuple):
    """One change made to an element (kept elements are not logged).

    ``path`` is a keyword path such as ``RequestAttributesSequence[0].AccessionNumber``;
    ``action`` the action applied (``X``, ``Z``, ``D``, ``C``, ``U``); ``reason`` says
    why, without any value (the log carries no PHI).
    """

    path: str
    action: str
    reason: str


class ActionLog(tuple):  # type: ignore[type-arg]
    """The records of one run, built on first access (logging costs nothing until read)."""

    def __new__(cls, raw: list[tuple[str, int, str, str | None]], plan: _Plan) -> ActionLog:
        records = tuple(ActionRecord(prefix + _kw(tag), code, why if why is not None else plan.reason(tag))
                        for prefix, tag, code, why in raw)
        return super().__new__(cls, records)


@dataclass(frozen=True, eq=False)
class DeidResult:
    """The outcome of :meth:`Deidentifier.deidentify`.

    Attributes
    ----------
    dataset : pydicom.dataset.Dataset
        The de-identified dataset (a new object; File Meta replaced).
    patient_pseudonym : str or None
        The pseudonym written to Patient's Name and Patient ID, or ``None`` when the
        object names no patient.
    uid_map : Mapping[str, str]
        Original to replacement UID for every UID replaced in this object.
        Sensitive (the keys are the original UIDs): keep it out of the archive.
    date_offset_days : int or None
        The whole-day offset applied to dates, or ``None`` without the modified
        dates option.
    profile : str
        Name of the profile applied.
    pixel_phi_risks : tuple of str
        Why the pixels may carry burned-in identifiers (see
        :func:`caselib.deid.pixels.pixel_phi_risk`); empty if no reason is known.
    actions_log : tuple of ActionRecord
        Every element changed, with the reason; no values (built on first access).
    """

    dataset: Dataset
    patient_pseudonym: str | None
    uid_map: Mapping[str, str]
    date_offset_days: int | None
    profile: str
    pixel_phi_risks: tuple[str, ...]
    _raw_log: list[tuple[str, int, str, str | None]] = field(repr=False)
    _plan: Any = field(repr=False)

    @property
    def actions_log(self) -> tuple[ActionRecord, ...]:
        log = self.__dict__.get("_log")
        if log is None:
            log = ActionLog(self._raw_log, self._plan)
            object.__setattr__(self, "_log", log)
        return log

    def to_bytes(self) -> bytes:
        """The dataset encoded as a DICOM file (see :func:`dataset_to_bytes`)."""
        return dataset_to_bytes(self.dataset)


def dataset_to_bytes(ds: Dataset) -> bytes:
    """Encode ``ds`` as a DICOM file: Part 10 with File Meta when it has one.

    Uses :func:`caselib.deid.encode.encode_dataset` (the bytes pydicom's
    ``dcmwrite(enforce_file_format=True)`` writes, several times faster for
    de-identified datasets).  A dataset whose File Meta is incomplete is written as
    it is; one built in memory without File Meta or encoding as Explicit VR Little
    Endian.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.PatientName = "X"
    >>> dataset_to_bytes(ds)[:8]
    b'\\x10\\x00\\x10\\x00PN\\x02\\x00'
    """
    meta = ds.__dict__.get("file_meta")
    if meta is not None and 0x00020010 in meta._dict:
        try:
            return encode_dataset(ds)
        except (AttributeError, ValueError):
            pass  # incomplete File Meta: write what there is
    buf = io.BytesIO()
    kwargs: dict[str, bool] = {}
    if (meta is None or 0x00020010 not in meta._dict) and None in ds.original_encoding:
        kwargs = {"implicit_vr": False, "little_endian": True}
    ds.save_as(buf, enforce_file_format=False, **kwargs)
    return buf.getvalue()


_KW_CACHE: dict[int, str] = {}


def _kw(tag: int) -> str:
    name = _KW_CACHE.get(tag)
    if name is None:
        name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        _KW_CACHE[tag] = name
    return name


_VR_CACHE: dict[int, str] = {}


def _dict_vr(tag: int) -> str:
    vr = _VR_CACHE.get(tag)
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
        _VR_CACHE[tag] = vr
    return vr


def _str_values(elem: DataElement | RawDataElement) -> list[str]:
    """Values of an ASCII string element (UI, DA, DT, AS, CS) without charset decoding."""
    value = elem.value
    if value is None:
        return []
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace")
        return [v.strip(" \x00") for v in text.split("\\")]
    if isinstance(value, str):
        return [value.strip(" \x00")]
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v).strip(" \x00") for v in value]
    return [str(value).strip(" \x00")]


def _new(tag: int, vr: str, value: Any) -> DataElement:
    """A new element without pydicom's value validation (values are built to fit)."""
    return DataElement(tag, vr, value, validation_mode=_IGNORE)


def _raw(tag: int, vr: str, values: list[str] | str, like: Any = None) -> RawDataElement:
    """An ASCII value as an encoded raw element: the writer copies its bytes as they are."""
    text = values if isinstance(values, str) else "\\".join(values)
    data = text.encode("ascii")
    if len(data) & 1:
        data += b"\x00" if vr == "UI" else b" "
    implicit = getattr(like, "is_implicit_VR", False)
    little = getattr(like, "is_little_endian", True)
    return RawDataElement(BaseTag(tag), vr, len(data), data, 0, implicit, little, True, False)


def _retag(elem: Any, tag: int) -> RawDataElement:
    """A UI element copied under another tag, value bytes unchanged (File Meta = dataset)."""
    if getattr(elem, "is_raw", False) and isinstance(elem.value, bytes):
        return RawDataElement(BaseTag(tag), "UI", len(elem.value), elem.value, 0, False, True, True, False)
    return _raw(tag, "UI", _str_values(elem)[:1])


def _empty(tag: int, vr: str, like: Any) -> DataElement | RawDataElement:
    vr = vr.split(" or ")[0]
    if vr == "SQ":
        return _new(tag, vr, Sequence())
    if like is not None and getattr(like, "is_raw", False):
        return RawDataElement(BaseTag(tag), vr, 0, b"", 0, like.is_implicit_VR, like.is_little_endian, True, False)
    if vr in _STR_VRS:
        return _new(tag, vr, "")
    return _new(tag, vr, None)


_DS_TEMPLATE = Dataset().__dict__.copy()
_META_TEMPLATE = FileMetaDataset().__dict__.copy()
_DS_MUTABLE = tuple(k for k, v in _DS_TEMPLATE.items() if isinstance(v, (dict, list, set)))
_META_MUTABLE = tuple(k for k, v in _META_TEMPLATE.items() if isinstance(v, (dict, list, set)))
_ENCODING_ATTRS = ("_read_implicit", "_read_little", "_read_charset", "_parent_encoding", "_is_little_endian",
                   "_is_implicit_VR", "is_undefined_length_sequence_item", "_pixel_rep")


def _new_dataset(src: Dataset | None, cls: type[Dataset] = Dataset) -> Dataset:
    """An empty dataset with the encoding state of ``src``, without Dataset.__init__'s cost.

    ``Dataset.__setattr__`` looks every attribute name up in the DICOM dictionary;
    building thousands of sequence items that way dominated the run time, so the
    instance dict is filled from a template taken from a real ``Dataset()``.
    """
    ds = object.__new__(cls)
    d = ds.__dict__
    template, mutable = (_DS_TEMPLATE, _DS_MUTABLE) if cls is Dataset else (_META_TEMPLATE, _META_MUTABLE)
    d.update(template)
    for key in mutable:  # a fresh dict, list or set of its own
        d[key] = template[key].copy()
    if src is not None:
        sd = src.__dict__
        for key in _ENCODING_ATTRS:
            if key in sd:
                d[key] = sd[key]
    return ds


class _Plan:
    """A profile compiled against the table: internal action per tag."""

    def __init__(self, table: ConfidentialityTable, profile: Profile) -> None:
        self.table = table
        self.profile = profile
        self.options = profile.options
        basic = profile.step(BasicProfile)
        self.keep_references = basic.keep_references if basic else True
        modes: dict[Option, str] = {}
        for step in (profile.step(CleanDescriptors), profile.step(CleanStructuredContent)):
            if step is not None and step.option is not None:
                modes[step.option] = step.mode
        self.modes = modes
        self.exact: dict[int, int] = {tag: self._internal(row, tag) for tag, row in table.exact_rows.items()}
        self.rows: dict[int, TableRow] = dict(table.exact_rows)
        self.patterns = tuple((row.mask, row.value, self._internal(row, None), row) for row in table.pattern_rows)
        if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            self.date_action = _CLEAN
        elif Option.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
            self.date_action = _KEEP
        else:
            self.date_action = _REMOVE
        if self.exact.get(_PATIENT_AGE) == _KEEP and Option.RETAIN_PATIENT_CHARACTERISTICS in self.options:
            self.exact[_PATIENT_AGE] = _AGE
        pc = profile.step(RetainPatientCharacteristics)
        self.max_age = pc.max_age_years if pc else 89
        self.seq_overrides: dict[int, dict[int, int]] = {}
        #: the verifier's harvest decisions by (tag, VR as read, top level?) (see _harvest_walk)
        self.harvest_codes: dict[tuple[int, Any, bool], tuple[int, Any, str]] = {}
        if Option.CLEAN_GRAPHICS in self.options:
            self.seq_overrides[_GRAPHIC_ANNOTATION_SEQ] = {_UNFORMATTED_TEXT: _CLEAN}
        private = profile.step(RetainSafePrivate)
        self.allow = private.resolved_list() if private is not None else None
        self.pseudonym = profile.step(PseudonymizePatient)
        dates = profile.step(RetainLongitudinalModifiedDates)
        self.offset_range = (dates.min_days, dates.max_days) if dates else None
        self.full_dates = profile.step(RetainLongitudinalFullDates) is not None
        self.scrubs = any(m == "scrub" for m in modes.values()) or bool(
            self.options & {Option.RETAIN_PATIENT_CHARACTERISTICS, Option.RETAIN_DEVICE_IDENTITY,
                            Option.CLEAN_GRAPHICS})

    def _internal(self, row: TableRow, tag: int | None) -> int:
        best: Action | None = None
        winner: Option | None = None
        for option in self.options:
            act = row.options.get(option)
            if act is not None and (best is None or act.strictness > best.strictness):
                best, winner = act, option
        action = row.basic if best is None else best
        if action.is_compound:
            action = resolve_action(action, self.table.attribute_types.get(tag) if tag is not None else None,
                                    keep_references=self.keep_references)
        if row.tag_text in _GRAPHIC_TAGS and action is Action.C:
            return _REMOVE  # overlays and curves: the only cleaning caselib can vouch for
        internal = _SIMPLE[action]
        if internal == _CLEAN and winner is not None and self.modes.get(winner) == "remove":
            return _CLEAN_REMOVE
        return internal

    def resolve(self, tag: int, vr: str | None) -> int:
        """Action for a tag without an exact row (cached when it does not depend on the file)."""
        for mask, value, act, _row in self.patterns:
            if tag & mask == value:
                self.exact[tag] = act
                return act
        group = tag >> 16
        if group & 1:
            self.exact[tag] = _PRIVATE
            return _PRIVATE
        if tag & 0xFFFF == 0 or tag == 0x00080001 or (0x6000 <= group <= 0x60FF):
            self.exact[tag] = _REMOVE
            return _REMOVE
        known = tag in DicomDictionary
        if not known and (not vr or vr == "UN"):
            return _REMOVE  # a public attribute nobody can interpret: its content cannot be checked
        vr = _dict_vr(tag) if known or not vr else vr
        act = self.date_action if vr in ("DA", "DT") else _KEEP
        if known:
            self.exact[tag] = act
        return act

    def reason(self, tag: int) -> str:
        row = self.rows.get(tag)
        if row is None:
            for mask, value, _act, prow in self.patterns:
                if tag & mask == value:
                    row = prow
                    break
        if row is None:
            if (tag >> 16) & 1:
                return "private attribute not on the allow-list"
            if tag & 0xFFFF == 0:
                return "group length (recomputed by the writer)"
            if 0x6000 <= tag >> 16 <= 0x60FF:
                return "overlay plane removed with its Overlay Data"
            if tag not in DicomDictionary:
                return "unknown public attribute with VR UN: content cannot be checked"
            return "date/time not listed in Table E.1-1, handled by its VR (PS3.15 E.1.1 note 4)"
        source = "caselib addition" if row.revision == "caselib" else f"Table E.1-1 rev {row.revision}"
        code = row.action(self.options)
        if row.tag_text in _GRAPHIC_TAGS and code is Action.C:
            return f"C ({source}): overlays and curves are removed, their bitmaps cannot be checked"
        if code.is_compound:
            resolved = resolve_action(code, self.table.attribute_types.get(tag), keep_references=self.keep_references)
            return f"{code.value} resolved to {resolved.value} ({source})"
        return f"{code.value} ({source})"


class _Run:
    """State of one deidentify() call."""

    __slots__ = ("keys", "offset", "pseudonym", "uid_map", "log", "harvest", "pending")

    def __init__(self, keys: Keyring, offset: int | None, pseudonym: str | None) -> None:
        self.keys = keys
        self.offset = offset
        self.pseudonym = pseudonym
        self.uid_map: dict[str, str] = {}
        self.log: list[tuple[str, int, str, str | None]] = []
        self.harvest: list[tuple[str, Dataset, int]] = []
        self.pending: list[tuple[Dataset, Dataset, int, str, str]] = []

    def uid(self, value: str) -> str:
        new = self.keys.uid(value)
        self.uid_map[value] = new
        return new


def _pn_text(value: Any) -> str:
    return str(value) if value is not None else ""


def patient_identity(ds: Dataset) -> str | None:
    """The identity string a patient's pseudonym and date offset are derived from.

    ``issuer + "\\0" + Patient ID`` when Patient ID is present; else Patient's Name
    and Birth Date; else the Study Instance UID (each study its own subject); else
    ``None`` (the object names no patient).

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.PatientID = "A1"; ds.IssuerOfPatientID = "HOSP"
    >>> patient_identity(ds)
    'id\\x00HOSP\\x00A1'
    """
    def first(tag: int) -> str:
        if tag not in ds._dict:
            return ""
        values = _decoded_strings(ds, BaseTag(tag))
        return values[0].strip() if values else ""

    pid = first(_PATIENT_ID)
    if pid:
        return f"id\0{first(_ISSUER)}\0{pid}"
    name = first(_PATIENT_NAME)
    if name:
        return f"name\0{name}\0{first(_BIRTH_DATE)}"
    study = first(_STUDY_UID)
    if study:
        return f"study\0{study}"
    return None


class _BoundedCache(dict):  # type: ignore[type-arg]
    """A dict that empties itself when it grows past ``limit`` entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def _charset_key(ds: Dataset) -> Any:
    d = ds.__dict__
    cs = d.get("_read_charset") or d.get("_parent_encoding")
    return tuple(cs) if isinstance(cs, list) else cs


_DECODED = _BoundedCache(65536)
_NEEDLES = _BoundedCache(65536)
_SCRUBBED = _BoundedCache(65536)
_HARVESTED = _BoundedCache(65536)  # (tag, VR, kind, path, raw value, charset, age cap) -> needles


def _decoded_strings(ds: Dataset, tag: int) -> list[str]:
    """The decoded string values of an element, cached by its raw bytes and charset."""
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    key = None
    if elem is not None and elem.is_raw and isinstance(elem.value, bytes):
        key = (elem.VR, elem.value, _charset_key(ds))
        hit = _DECODED.get(key)
        if hit is not None:
            return hit
    try:
        strings = _as_strings(ds[tag].value)
    except Exception:  # undecodable: search for what the bytes say in Latin-1 rather than nothing
        value = getattr(elem, "value", None)
        strings = value.decode("latin-1").split("\\") if isinstance(value, bytes) else []
    if key is not None:
        _DECODED.put(key, strings)
    return strings


def _needles_cached(kind: str, value: str) -> tuple[Needle, ...]:
    key = (kind, value)
    hit = _NEEDLES.get(key)
    if hit is None:
        hit = _NEEDLES.put(key, tuple(needles_from_value(kind, value)))
    return hit


_PIR, _METHOD, _METHOD_CODES, _LTIM = 0x00120062, 0x00120063, 0x00120064, 0x00280303


class Deidentifier:
    """Apply a de-identification profile with one archive's secret and registry.

    Parameters
    ----------
    profile : Profile or str, optional
        A profile or the name of a registered one; default ``"teaching"``.
    secret : bytes
        The archive secret (:func:`caselib.deid.load_secret`); keys UIDs, patient
        keys and date offsets.  Never stored in the output.
    registry : PseudonymRegistry, optional
        Where patient numbers live; default an in-memory registry (numbers then
        last only as long as the object).  It is bound to the secret's fingerprint.
    table : ConfidentialityTable, optional
        Default: :func:`caselib.deid.table.load_table`.

    Notes
    -----
    One object can de-identify any number of datasets.  The profile is compiled
    once; replacement UIDs, patient numbers, date offsets and decoded values are
    cached, so the slices of a series cost little after the first.
    """

    def __init__(self, profile: Profile | str | None = None, secret: bytes | None = None,
                 registry: PseudonymRegistry | None = None, *, table: ConfidentialityTable | None = None) -> None:
        if secret is None:
            raise TypeError("Deidentifier needs the archive secret: Deidentifier(profile, secret=load_secret(path))")
        if profile is None:
            profile = Profile.default()
        elif isinstance(profile, str):
            profile = get_profile(profile)
        elif not isinstance(profile, Profile):
            raise TypeError(f"profile must be a Profile or a profile name, got {type(profile).__name__}")
        self.profile = profile
        self.table = table or load_table()
        self._keys = Keyring(secret)
        self.registry: PseudonymRegistry = registry if registry is not None else MemoryPseudonymRegistry()
        self.registry.bind(self._keys.fingerprint)
        self._plan = _Plan(self.table, profile)
        self._numbers: dict[str, int] = {}
        self._offsets: dict[str, int] = {}
        method = f"caselib {_CASELIB_VERSION} {profile.name} (PS3.15 {self.table.revision} E.1-1)"
        self._method = method[:64]
        # the marks as encoded elements, built once: raw elements are immutable, so every
        # output can hold the same ones (pydicom replaces, never changes, them on access)
        self._codes = profile.codes
        self._code_elements = {code: (_raw(0x00080100, "SH", code), _raw(0x00080102, "SH", "DCM"),
                                      _raw(0x00080104, "LO", meaning)) for code, meaning in self._codes}
        self._pir_element = _raw(_PIR, "CS", "YES")
        self._method_element = _raw(_METHOD, "LO", self._method) if self._method.isascii() else None

    def __repr__(self) -> str:
        return f"Deidentifier(profile={self.profile.name!r}, fingerprint={self._keys.fingerprint!r})"

    @property
    def fingerprint(self) -> str:
        """Public fingerprint of the secret (for logs and registries)."""
        return self._keys.fingerprint

    # ------------------------------------------------------------------ public

    def pseudonym_for(self, ds: Dataset) -> str | None:
        """The pseudonym the patient of ``ds`` gets (assigned in the registry if new)."""
        return self._pseudonym(patient_identity(ds))

    def _pseudonym(self, identity: str | None) -> str | None:
        step = self._plan.pseudonym
        if identity is None or step is None:
            return None
        number = self._numbers.get(identity)
        if number is None:
            number = self.registry.number_for(self._keys.patient_key(identity))
            self._numbers[identity] = number
        return format_pseudonym(number, step.prefix, step.digits)

    def date_offset_for(self, ds: Dataset) -> int | None:
        """The whole-day date offset of the patient of ``ds`` (``None`` without the option)."""
        return self._offset(patient_identity(ds))

    def _offset(self, identity: str | None) -> int | None:
        if self._plan.offset_range is None:
            return None
        identity = identity or ""
        offset = self._offsets.get(identity)
        if offset is None:
            offset = self._offsets[identity] = self._keys.date_offset(identity, self._plan.offset_range)
        return offset

    def deidentify(self, ds: Dataset, *, pixel_phi_risks: tuple[str, ...] | None = None) -> DeidResult:
        """De-identify one dataset (file meta included); ``ds`` is not modified.

        Parameters
        ----------
        ds : pydicom.dataset.Dataset
            As read by :func:`pydicom.dcmread` (or built in memory).
        pixel_phi_risks : tuple of str, optional
            ``pixel_phi_risk(ds)`` when the caller has already assessed it (as ingest
            does, before it decides whether to de-identify at all); assessed here otherwise.

        Returns
        -------
        DeidResult
        """
        if not isinstance(ds, Dataset):
            raise TypeError(f"deidentify() takes a pydicom Dataset, got {type(ds).__name__}")
        identity = patient_identity(ds)
        run = _Run(self._keys, self._offset(identity), self._pseudonym(identity))
        out = self._walk(ds, run, "", 0, None)
        if run.pending:
            self._scrub_pending(run)
        self._mark(out, run)
        self._replace_file_meta(ds, out, run)
        return DeidResult(
            dataset=out,
            patient_pseudonym=run.pseudonym,
            uid_map=MappingProxyType(run.uid_map),
            date_offset_days=run.offset,
            profile=self.profile.name,
            pixel_phi_risks=tuple(pixel_phi_risk(ds)) if pixel_phi_risks is None else tuple(pixel_phi_risks),
            _raw_log=run.log,
            _plan=self._plan,
        )

    def deidentify_file(self, path: Any) -> DeidResult:
        """Read a DICOM file with pydicom and de-identify it."""
        import pydicom

        return self.deidentify(pydicom.dcmread(path))

    # ------------------------------------------------------------------ the walk

    def _walk(self, src: Dataset, run: _Run, path: str, depth: int, overrides: dict[int, int] | None) -> Dataset:
        plan = self._plan
        exact = plan.exact
        out = _new_dataset(src)
        od: Any = out._dict
        creators: dict[int, Any] | None = None
        kept_blocks: set[int] | None = None
        log = run.log.append
        harvest = run.harvest.append if plan.scrubs else None

        item: Any
        for btag, item in list(src._dict.items()):
            elem: Any = item
            tag = int(btag)
            act = exact.get(tag)
            if overrides is not None and tag in overrides:
                act = overrides[tag]
            vr = elem.VR
            if act is None:
                act = plan.resolve(tag, vr)
            if not vr or vr == "UN":
                vr = _dict_vr(tag)  # a known attribute written as UN (a sequence!) is handled as what it is

            if act == _KEEP:
                if vr == "SQ":
                    od[btag] = self._walk_sequence(src, btag, run, path, depth, overrides)
                elif vr == "UI":
                    od[btag] = self._remap_uids(tag, elem, run)
                else:
                    od[btag] = elem
                continue

            if depth == 0 and run.pseudonym is not None and (tag == _PATIENT_NAME or tag == _PATIENT_ID):
                if harvest is not None:
                    harvest(("name" if tag == _PATIENT_NAME else "identifier", src, btag))
                od[btag] = _raw(tag, vr, run.pseudonym, elem)
                log((path, tag, "D", "archive pseudonym"))
                continue

            if act == _PRIVATE:
                if creators is None:
                    creators = self._creators(src)
                if 0x0010 <= tag & 0xFFFF <= 0x00FF:
                    continue  # a Private Creator: kept below if one of its elements is
                kept = self._private(src, tag, elem, vr, creators, run) if plan.allow is not None else None
                if kept is None:
                    if vr == "PN" and harvest is not None:
                        harvest(("name", src, btag))
                    log((path, tag, "X", None))
                else:
                    od[btag] = kept
                    if kept_blocks is None:
                        kept_blocks = set()
                    kept_blocks.add((tag & 0xFFFF0000) | ((tag >> 8) & 0xFF))
                continue

            if act == _REMOVE:
                if harvest is not None:
                    self._harvest(src, btag, vr, run)
                log((path, tag, "X", None))
            elif act == _EMPTY:
                if harvest is not None:
                    self._harvest(src, btag, vr, run)
                od[btag] = _empty(tag, vr, elem)
                log((path, tag, "Z", None))
            elif act == _DUMMY or act == _UID:
                if vr == "SQ":
                    od[btag] = self._walk_sequence(src, btag, run, path, depth, overrides)
                elif vr == "UI":
                    od[btag] = self._remap_uids(tag, elem, run)
                else:
                    if harvest is not None:
                        self._harvest(src, btag, vr, run)
                    vr1 = vr.split(" or ")[0]
                    value = elem.value
                    length = elem.length if elem.is_raw else len(value) if isinstance(value, bytes) else 0
                    dummy = dummy_value(vr1, length)
                    od[btag] = _raw(tag, vr1, dummy, elem) if isinstance(dummy, str) else _new(tag, vr1, dummy)
                    log((path, tag, "D", None))
            elif act == _CLEAN or act == _CLEAN_REMOVE:
                self._clean(src, od, btag, tag, elem, vr, act, run, path, depth, overrides)
            elif act == _AGE:
                values = _str_values(elem)
                capped = [cap_age(v, plan.max_age) for v in values]
                if capped != values:
                    od[btag] = _raw(tag, "AS", capped, elem)
                    log((path, tag, "C", f"age above {plan.max_age} years aggregated"))
                else:
                    od[btag] = elem

        if kept_blocks:
            for block in kept_blocks:
                btag = BaseTag(block)
                if btag in src._dict:
                    od[btag] = src._dict[btag]
        return out

    def _walk_sequence(self, src: Dataset, tag: BaseTag, run: _Run, path: str, depth: int,
                       overrides: dict[int, int] | None) -> DataElement:
        elem = src[tag]
        items = elem.value or ()
        child = self._plan.seq_overrides.get(int(tag))
        if child is not None:
            overrides = {**overrides, **child} if overrides else child
        prefix = path + _kw(int(tag))
        new_items = [self._walk(item, run, f"{prefix}[{i}].", depth + 1, overrides) for i, item in enumerate(items)]
        new = _new(tag, "SQ", Sequence(new_items))
        new.is_undefined_length = elem.is_undefined_length
        return new

    def _clean(self, src: Dataset, od: dict, btag: BaseTag, tag: int, elem: Any, vr: str, act: int,  # type: ignore[type-arg]
               run: _Run, path: str, depth: int, overrides: dict[int, int] | None) -> None:
        if vr == "SQ":
            od[btag] = self._walk_sequence(src, btag, run, path, depth, overrides)
        elif vr == "DA" or vr == "DT":
            if self._plan.scrubs:
                run.harvest.append(("date", src, btag))
            if run.offset is None:
                run.log.append((path, tag, "X", "date without a modified-dates offset"))
                return
            shifted = self._shift(tag, elem, vr, run)
            if shifted is None:
                run.log.append((path, tag, "X", "not a valid date, cannot be shifted"))
            else:
                od[btag] = shifted
                run.log.append((path, tag, "C", f"date shifted by {run.offset} days"))
        elif vr == "UI":
            od[btag] = self._remap_uids(tag, elem, run)
        elif vr in _TEXT_VRS:
            if act == _CLEAN_REMOVE:
                run.log.append((path, tag, "X", "descriptor removed (clean mode 'remove')"))
            else:
                od[btag] = elem
                run.pending.append((src, od, btag, vr, path))  # type: ignore[arg-type]
        else:
            od[btag] = elem  # TM (whole-day shifts keep the time of day), numbers, AS...

    _date_cache: dict[tuple[str, str, int], str | None] = {}

    def _shift(self, tag: int, elem: Any, vr: str, run: _Run) -> RawDataElement | None:
        cache = self._date_cache
        out = []
        offset = run.offset or 0
        for value in _str_values(elem):
            key = (vr, value, offset)
            shifted = cache.get(key, "?")
            if shifted == "?":
                shifted = (shift_date if vr == "DA" else shift_datetime)(value, offset)
                if len(cache) > 65536:
                    cache.clear()
                cache[key] = shifted
            if shifted is None:
                return None
            out.append(shifted)
        return _raw(tag, vr, out, elem)

    def _remap_uids(self, tag: int, elem: Any, run: _Run) -> Any:
        if tag in CLASS_UID_TAGS:
            return elem
        values = _str_values(elem)
        new = []
        changed = False
        for value in values:
            if not value or is_well_known_uid(value):
                new.append(value)
            else:
                new.append(run.uid(value))
                changed = True
        if not changed:
            return elem
        return _raw(tag, "UI", new, elem)

    @staticmethod
    def _creators(src: Dataset) -> dict[int, Any]:
        out = {}
        for tag, elem in src._dict.items():
            if (tag >> 16) & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
                value = elem.value
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                out[int(tag)] = str(value or "").rstrip(" \x00")
        return out

    def _private(self, src: Dataset, tag: int, elem: Any, vr: str, creators: dict[int, Any], run: _Run) -> Any:
        allow = self._plan.allow
        creator = private_creator_of(creators, tag)
        if creator is None or allow is None:
            return None
        entry = allow.lookup(tag >> 16, creator, tag & 0xFF)
        if entry is None:
            return None
        if vr != entry.vr:
            if vr not in ("UN", None, "") or not elem.is_raw:
                return None  # another VR: not the attribute the list vouches for
            raw = elem._replace(VR=entry.vr)
            try:
                elem = convert_raw_data_element(raw, encoding=src.original_character_set or src._character_set,
                                                ds=src)
            except Exception:
                return None
            vr = entry.vr
        if vr == "SQ":
            return None  # allow-listed sequences are not supported: their content is unchecked
        if vr == "UI" and not entry.keep_uid:
            values = _str_values(elem)
            new = [run.uid(v) if v and not is_well_known_uid(v) else v for v in values]
            return elem if new == values else _raw(tag, "UI", new, elem)
        return elem

    # ------------------------------------------------------------------ harvesting and scrubbing

    @staticmethod
    def _harvest(src: Dataset, btag: BaseTag, vr: str, run: _Run) -> None:
        kind = harvest_kind(_kw(int(btag)), vr)
        if kind is None or kind in ("uid", "age", "text"):
            return
        run.harvest.append((kind, src, btag))

    def _scrub_pending(self, run: _Run) -> None:
        needles: list[Needle] = []
        for kind, src, tag in run.harvest:
            for value in _decoded_strings(src, tag):
                needles.extend(_needles_cached(kind, value))
        matcher = compile_matcher(needles)
        token = matcher_token(matcher)
        for src, od, tag, vr, path in run.pending:  # type: ignore[misc]
            elem: Any = src._dict.get(tag)  # type: ignore[call-overload]
            key = None
            if elem is not None and elem.is_raw and isinstance(elem.value, bytes):
                key = (token, vr, elem.value, _charset_key(src))
                hit = _SCRUBBED.get(key, "?")
                if hit != "?":
                    if hit is not None:
                        od[tag] = _new(tag, vr, hit)
                        run.log.append((path, int(tag), "C", "identifiers scrubbed from free text"))
                    continue
            try:
                cleaned = self._scrub_value(src, tag, vr, matcher)
            except Exception:  # undecodable text cannot be checked: fail safe, remove it
                del od[tag]
                run.log.append((path, int(tag), "X", "free text that cannot be decoded, removed"))
                continue
            if key is not None:
                _SCRUBBED.put(key, cleaned)
            if cleaned is not None:
                od[tag] = _new(tag, vr, cleaned)
                run.log.append((path, int(tag), "C", "identifiers scrubbed from free text"))

    @staticmethod
    def _scrub_value(src: Dataset, tag: Any, vr: str, matcher: Any) -> Any:
        """The cleaned value, or ``None`` when cleaning changes nothing (raises if undecodable)."""
        value = src[tag].value
        if value is None or value == "" or isinstance(value, (bytes, bytearray)):
            return None
        limit = _MAX_LENGTH.get(vr)
        if isinstance(value, (str, PersonName)) or not isinstance(value, Iterable):
            old = _pn_text(value)
            new = scrub_text(old, matcher)[:limit]
            return None if new == old else new
        olds = [_pn_text(v) for v in value]
        news = [scrub_text(v, matcher)[:limit] for v in olds]
        return None if news == olds else news

    # ------------------------------------------------------------------ marks and file meta

    def _mark(self, out: Dataset, run: _Run) -> None:
        od = out._dict
        od[BaseTag(_PIR)] = self._pir_element
        methods = [m for m in _decoded_strings(out, BaseTag(_METHOD)) if m] if _METHOD in od else []
        if not methods and self._method_element is not None:
            od[BaseTag(_METHOD)] = self._method_element
        else:
            if self._method not in methods:
                methods.append(self._method)
            od[BaseTag(_METHOD)] = _new(_METHOD, "LO", methods if len(methods) > 1 else methods[0])

        items = []
        have: set[tuple[str, str]] = set()
        existing = od.get(BaseTag(_METHOD_CODES))
        if existing is not None:
            for item in out[_METHOD_CODES].value or ():
                items.append(item)
                d = item._dict
                value, scheme = d.get(BaseTag(0x00080100)), d.get(BaseTag(0x00080102))
                have.add(((_str_values(value) or [""])[0] if value is not None else "",
                          (_str_values(scheme) or [""])[0] if scheme is not None else ""))
        charset = out.__dict__.get("_read_charset") or "iso8859"
        for code, _meaning in self._codes:
            if (code, "DCM") in have:
                continue
            item = _new_dataset(out)
            item.__dict__["_read_charset"] = item.__dict__["_parent_encoding"] = charset
            d = item._dict
            value, scheme, meaning = self._code_elements[code]
            d[BaseTag(0x00080100)] = value
            d[BaseTag(0x00080102)] = scheme
            d[BaseTag(0x00080104)] = meaning
            items.append(item)
        od[BaseTag(_METHOD_CODES)] = _new(_METHOD_CODES, "SQ", Sequence(items))

        if self._plan.offset_range is not None:
            status = "MODIFIED"
        elif self._plan.full_dates:
            status = "UNMODIFIED"
        else:
            status = "REMOVED"
        if _LTIM in od:
            order = {"UNMODIFIED": 0, "MODIFIED": 1, "REMOVED": 2}
            previous = (_str_values(od[BaseTag(_LTIM)]) or [""])[0]
            if order.get(previous, -1) > order[status]:
                status = previous
        od[BaseTag(_LTIM)] = _raw(_LTIM, "CS", status)

    def _replace_file_meta(self, src: Dataset, out: Dataset, run: _Run) -> None:
        old = src.__dict__.get("file_meta")
        if old is None or len(old._dict) == 0:
            return
        meta = _new_dataset(None, FileMetaDataset)
        md = meta._dict
        md[BaseTag(0x00020001)] = _new(0x00020001, "OB", b"\x00\x01")
        od = out._dict
        sop_class = od.get(BaseTag(_SOP_CLASS_UID)) or old._dict.get(BaseTag(0x00020002))
        if sop_class is not None:
            md[BaseTag(0x00020002)] = _retag(sop_class, 0x00020002)
        sop_instance = od.get(BaseTag(_SOP_INSTANCE_UID))
        if sop_instance is not None:
            md[BaseTag(0x00020003)] = _retag(sop_instance, 0x00020003)
        elif BaseTag(0x00020003) in old._dict:
            original = _str_values(old._dict[BaseTag(0x00020003)])[0]
            new = original if is_well_known_uid(original) else run.uid(original)
            md[BaseTag(0x00020003)] = _raw(0x00020003, "UI", new)
        syntax = old._dict.get(BaseTag(0x00020010))
        if syntax is not None:
            md[BaseTag(0x00020010)] = _raw(0x00020010, "UI", _str_values(syntax)[:1])
        md[BaseTag(0x00020012)] = _raw(0x00020012, "UI", IMPLEMENTATION_CLASS_UID)
        md[BaseTag(0x00020013)] = _raw(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME)
        out.__dict__["file_meta"] = meta
        out.__dict__["preamble"] = b"\x00" * 128
        rebuilt = (0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)
        for btag, elem in old._dict.items():
            tag = int(btag)
            if tag not in rebuilt:
                if self._plan.scrubs and (elem.VR or _dict_vr(tag)) == "AE":
                    run.harvest.append(("identifier", old, btag))
                run.log.append(("", tag, "X", "File Meta Information replaced (PS3.15 E.1.1 item 7)"))


def _as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, PersonName)) or not isinstance(value, Iterable):
        return [_pn_text(value) if not isinstance(value, bytes) else value.decode("latin-1")]
    return [_pn_text(v) for v in value]


# ---------------------------------------------------------------------- harvesting for the verifier


_PLANS: dict[Profile, _Plan] = {}


def _plan_for(profile: Profile | str | None) -> _Plan:
    if profile is None:
        profile = Profile.default()
    elif isinstance(profile, str):
        profile = get_profile(profile)
    plan = _PLANS.get(profile)
    if plan is None:
        plan = _PLANS[profile] = _Plan(load_table(), profile)
    return plan


def harvest_identifiers(ds: Dataset, profile: Profile | str | None = None) -> tuple[Needle, ...]:
    """Every identifying value of ``ds`` that ``profile`` removes or replaces, as needles.

    Walks the whole dataset (File Meta and every nesting level) independently of
    :meth:`Deidentifier.deidentify`: values of elements the profile removes, empties,
    replaces or shifts (names, identifiers, dates, UIDs, capped ages, private person
    names, File Meta AE titles).  The rules for turning values into needles are in
    :mod:`caselib.deid.text`.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.StudyDescription = "CT"
    >>> sorted(n.text for n in harvest_identifiers(ds))
    ['Doe', 'Jane']
    """
    return unique_needles(harvest_every_needle(ds, profile))


def harvest_every_needle(ds: Dataset, profile: Profile | str | None = None) -> list[Needle]:
    """:func:`harvest_identifiers` before duplicates are dropped: a value found in several
    elements comes once per element, each with its own source path (the verifier needs every
    date element's original value, by path)."""
    plan = _plan_for(profile)
    needles: list[Needle] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for btag, elem in meta._dict.items():
            tag = int(btag)
            if tag == 0x00020003:
                kind = "uid"
            elif tag in (0x00020016, 0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028):
                kind = "identifier"
            else:
                continue
            values = [v for v in _str_values(elem) if v and not (kind == "uid" and is_well_known_uid(v))]
            _add_needles(needles, kind, values, _kw(tag))
    kept_numbers: list[Any] = []
    kept_texts: list[str] = []
    _harvest_walk(ds, plan, "", 0, None, needles, kept_numbers, kept_texts)
    # A word of a removed identifier that the profile keeps elsewhere in the same object
    # (the manufacturer "Philips Medical Systems" in the institution "Philips Medical Systems
    # Hamburg") is not a leak when found again in that kept element.
    if kept_texts:
        kept_words = {w.casefold() for t in kept_texts for w in _WORD_RE.findall(t)}
        kept_words |= {t.strip().casefold() for t in kept_texts}
        needles = [n for n in needles if not (n.kind == "identifier" and n.text.casefold() in kept_words)]
    # A removed number equal to a kept time or number (a step ID made of the study
    # time) is not a leak when found again: drop such digit-only identifiers.
    digits = [n for n in needles if n.kind == "identifier" and n.text.replace(".", "").isdigit()]
    if digits:
        retained = {v for elem in kept_numbers for v in _str_values(elem)}
        needles = [n for n in needles if not (n in digits and n.text in retained)]
    return needles


def _element_vr(tag: int, elem: Any) -> str:
    vr = elem.VR
    if not vr or vr == "UN":
        vr = _dict_vr(tag)  # implicit VR, or a known attribute written as UN
    return vr


def _values_for(ds: Dataset, btag: Any, vr: str) -> list[str]:
    """String values of an element, decoded once per distinct raw value (see _decoded_strings)."""
    if vr in ("UI", "DA", "DT", "TM", "AS", "DS", "IS", "CS"):
        return [v for v in _str_values(ds._dict[btag]) if v]
    return _decoded_strings(ds, btag)


def _add_needles(needles: list[Needle], kind: str, values: Iterable[str], path: str) -> None:
    for value in values:
        needles.extend(Needle(n.text, n.kind, path, n.word) for n in _needles_cached(kind, value))


_WORD_RE = re.compile(r"\w+")
# public text attributes whose kept values may repeat words of removed identifiers
_KEPT_TEXT_VRS = frozenset({"LO", "SH", "CS"})


# what _harvest_walk does with an element, decided once per (plan, tag, VR as read, top level?)
_H_SKIP, _H_SEQ, _H_NUMBER, _H_KEPT_TEXT, _H_PRIVATE, _H_KIND = range(6)


def _harvest_code(plan: _Plan, tag: int, elem_vr: Any, top: bool, overrides: dict[int, int] | None,
                  collect_kept: bool = True) -> tuple[int, Any, str]:
    """``(what, detail, vr)`` for one element: the decisions of :func:`_harvest_walk` that depend
    only on the tag, the VR as read, the nesting level and the profile (not on the value)."""
    vr = elem_vr if elem_vr and elem_vr != "UN" else _dict_vr(tag)  # implicit VR, or a known attribute as UN
    act = plan.exact.get(tag)
    if overrides is not None and tag in overrides:
        act = overrides[tag]
    if act is None:
        act = plan.resolve(tag, elem_vr)
    if vr == "SQ":
        return (_H_SEQ, act, vr)
    if vr in ("TM", "DS", "IS") and act in (_KEEP, _CLEAN):
        return (_H_NUMBER, None, vr)  # decoded only if a digit-only identifier needs the check
    if collect_kept and act == _KEEP and vr in _KEPT_TEXT_VRS and not (tag >> 16) & 1:
        return (_H_KEPT_TEXT, None, vr)
    kind = None
    if act == _PRIVATE:
        if 0x0010 <= tag & 0xFFFF <= 0x00FF:
            return (_H_SKIP, None, vr)
        return (_H_PRIVATE, None, vr)  # depends on the object's private creators
    elif top and plan.pseudonym is not None and tag in (_PATIENT_NAME, _PATIENT_ID):
        kind = harvest_kind(_kw(tag), vr)
    elif vr == "UI":
        if tag not in CLASS_UID_TAGS:
            kind = "uid"  # every instance UID is remapped, emptied or removed
    elif act in (_REMOVE, _EMPTY, _DUMMY, _CLEAN_REMOVE):
        kind = harvest_kind(_kw(tag), vr)
    elif act == _CLEAN and vr in ("DA", "DT"):
        kind = "date"
    elif act == _AGE:
        kind = "age"
    if kind is None or kind == "text":
        return (_H_SKIP, None, vr)
    return (_H_KIND, kind, vr)


def _harvest_walk(ds: Dataset, plan: _Plan, path: str, depth: int, overrides: dict[int, int] | None,
                  needles: list[Needle], kept_numbers: list[Any], kept_texts: list[str] | None = None) -> None:
    creators: dict[int, Any] | None = None
    top = depth == 0
    # decisions are cached on the plan where they depend on nothing else (no sequence overrides)
    codes = plan.harvest_codes if overrides is None and kept_texts is not None else None
    for btag, elem in list(ds._dict.items()):
        tag = int(btag)
        if codes is not None:
            key = (tag, elem.VR, top)
            decision = codes.get(key)
            if decision is None:
                decision = _harvest_code(plan, tag, elem.VR, top, None)
                if len(codes) > 65536:
                    codes.clear()
                codes[key] = decision
        else:
            decision = _harvest_code(plan, tag, elem.VR, top, overrides, kept_texts is not None)
        what, detail, vr = decision
        if what == _H_SKIP:
            continue
        if what == _H_SEQ:
            p = path + _kw(tag)
            try:
                items = ds[btag].value or ()
            except Exception:
                continue
            if detail not in (_REMOVE, _EMPTY, _PRIVATE):
                child = plan.seq_overrides.get(tag)
                sub = {**overrides, **child} if (overrides and child) else (child or overrides)
                for i, item in enumerate(items):
                    _harvest_walk(item, plan, f"{p}[{i}].", depth + 1, sub, needles, kept_numbers, kept_texts)
            else:
                for i, item in enumerate(items):
                    _harvest_all(item, f"{p}[{i}].", needles)
            continue
        if what == _H_NUMBER:
            kept_numbers.append(elem)
            continue
        if what == _H_KEPT_TEXT:
            kept_texts.extend(_values_for(ds, btag, vr))  # type: ignore[union-attr]
            continue
        kind = detail
        if what == _H_PRIVATE:
            kind = None
            if creators is None:
                creators = Deidentifier._creators(ds)
            creator = private_creator_of(creators, tag)
            entry = plan.allow.lookup(tag >> 16, creator, tag & 0xFF) \
                if plan.allow is not None and creator is not None else None
            if vr == "UI" and entry is not None and not entry.keep_uid:
                kind = "uid"
            elif vr == "PN" and entry is None:
                kind = "name"
            if kind is None:
                continue
        memo_key = None
        if what == _H_KIND and elem.is_raw and type(elem.value) is bytes:
            # the needles of a raw value depend on nothing else (an age on the plan's cap)
            memo_key = (tag, vr, kind, path, elem.value, _charset_key(ds), plan.max_age if kind == "age" else None)
            found = _HARVESTED.get(memo_key)
            if found is not None:
                needles.extend(found)
                continue
        values = _values_for(ds, btag, vr)
        if kind == "uid":
            values = [v for v in values if not is_well_known_uid(v)]
        elif kind == "age":
            values = [v for v in values if cap_age(v, plan.max_age) != v.strip().upper()]
        if memo_key is None:
            _add_needles(needles, kind, values, path + _kw(tag))
        else:
            mark = len(needles)
            _add_needles(needles, kind, values, path + _kw(tag))
            _HARVESTED.put(memo_key, tuple(needles[mark:]))


def _harvest_all(ds: Dataset, path: str, needles: list[Needle]) -> None:
    """Inside a removed sequence everything identifying goes: names, identifiers, dates, UIDs."""
    for btag, elem in list(ds._dict.items()):
        tag = int(btag)
        vr = _element_vr(tag, elem)
        if vr == "SQ":
            p = path + _kw(tag)
            try:
                items = ds[btag].value or ()
            except Exception:
                continue
            for i, item in enumerate(items):
                _harvest_all(item, f"{p}[{i}].", needles)
            continue
        if (tag >> 16) & 1 and vr != "PN":
            continue
        kind = harvest_kind(_kw(tag), vr)
        if kind in (None, "text", "age"):
            continue
        values = _values_for(ds, btag, vr)
        if kind == "uid":
            if tag in CLASS_UID_TAGS:
                continue
            values = [v for v in values if not is_well_known_uid(v)]
        _add_needles(needles, kind, values, path + _kw(tag))
