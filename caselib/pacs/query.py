"""What to look for on a PACS (:class:`StudyQuery`) and what it answered (:class:`StudyMatch`).

One query model for both paths: :meth:`StudyQuery.to_qido` gives the QIDO-RS
parameters (PS3.18 §10.6), :meth:`StudyQuery.to_identifier` the C-FIND
identifier (Study Root, STUDY level, PS3.4 C.6.2).  Matching follows PS3.4
C.2.2.2: single values, date ranges ``YYYYMMDD-YYYYMMDD``, wildcard ``*`` in
the description.

The answers name patients (they come from the hospital's PACS); they are shown
to the operator and never written into the archive.

Examples
--------
>>> q = StudyQuery(patient_id="A002304", date_from="2020-01-01", modality="CT", description="chest")
>>> q.to_qido()
{'PatientID': 'A002304', 'StudyDate': '20200101-', 'ModalitiesInStudy': 'CT', 'StudyDescription': '*chest*'}
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["StudyMatch", "StudyQuery", "normalise_date"]

_DATE_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def normalise_date(value: str | _dt.date | None, what: str = "date") -> str | None:
    """``'2020-03-01'``, ``'20200301'`` or a ``date`` -> ``'20200301'`` (DICOM DA); ``None`` stays ``None``.

    >>> normalise_date("2020-03-01"), normalise_date(None)
    ('20200301', None)
    """
    if value is None or value == "":
        return None
    if isinstance(value, _dt.date):
        return value.strftime("%Y%m%d")
    m = _DATE_RE.fullmatch(str(value).strip())
    if not m:
        raise ValueError(f"{what}: expected a date YYYY-MM-DD or YYYYMMDD, found {value!r}")
    try:
        _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise ValueError(f"{what}: expected a real calendar date, found {value!r} ({exc})") from None
    return f"{m[1]}{m[2]}{m[3]}"


@dataclass(frozen=True)
class StudyQuery:
    """Study-level matching keys; empty fields match everything."""

    patient_id: str | None = None
    accession: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    modality: str | None = None
    description: str | None = None
    study_uid: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "date_from", normalise_date(self.date_from, "date_from"))
        object.__setattr__(self, "date_to", normalise_date(self.date_to, "date_to"))
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date range: date_from {self.date_from} is after date_to {self.date_to}")
        for name in ("patient_id", "accession", "modality", "description", "study_uid"):
            value = getattr(self, name)
            if value is not None and ("\\" in value or not value.strip()):
                raise ValueError(f"{name}: expected a non-empty value without backslash, found {value!r}")

    @property
    def empty(self) -> bool:
        return not any((self.patient_id, self.accession, self.date_from, self.date_to, self.modality,
                        self.description, self.study_uid))

    def _date_range(self) -> str | None:
        if not self.date_from and not self.date_to:
            return None
        if self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from or ''}-{self.date_to or ''}"

    def _pairs(self) -> list[tuple[str, str]]:
        pairs = [("PatientID", self.patient_id), ("AccessionNumber", self.accession),
                 ("StudyDate", self._date_range()), ("ModalitiesInStudy", self.modality.upper() if self.modality else None),
                 ("StudyDescription", f"*{self.description.strip('*')}*" if self.description else None),
                 ("StudyInstanceUID", self.study_uid)]
        return [(k, v) for k, v in pairs if v]

    def to_qido(self) -> dict[str, str]:
        """QIDO-RS search parameters (attribute keywords as keys)."""
        return dict(self._pairs())

    def to_identifier(self) -> Dataset:
        """A C-FIND identifier: the matching keys plus the return keys of :class:`StudyMatch`."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "AccessionNumber", "StudyDate",
                        "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances",
                        "NumberOfStudyRelatedSeries"):
            setattr(ds, keyword, "")
        for keyword, value in self._pairs():
            setattr(ds, keyword, value)
        return ds


def _first(ds: Dataset, keyword: str) -> Any:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return value


@dataclass(frozen=True)
class StudyMatch:
    """One study a PACS reported (identifying: show it to the operator, never archive it)."""

    study_uid: str
    patient_id: str | None = None
    accession: str | None = None
    study_date: str | None = None
    description: str | None = None
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyMatch:
        mods = _first(ds, "ModalitiesInStudy")
        if isinstance(mods, str):
            mods = [m for m in mods.split("\\") if m]

        def _int(keyword: str) -> int | None:
            try:
                v = _first(ds, keyword)
                return int(v) if v is not None else None
            except (TypeError, ValueError):
                return None

        return cls(
            study_uid=str(ds.get("StudyInstanceUID", "")),
            patient_id=str(_first(ds, "PatientID")) if _first(ds, "PatientID") is not None else None,
            accession=str(_first(ds, "AccessionNumber")) if _first(ds, "AccessionNumber") is not None else None,
            study_date=str(_first(ds, "StudyDate")) if _first(ds, "StudyDate") is not None else None,
            description=str(_first(ds, "StudyDescription")) if _first(ds, "StudyDescription") is not None else None,
            modalities=tuple(str(m) for m in (mods or ())),
            n_series=_int("NumberOfStudyRelatedSeries"),
            n_instances=_int("NumberOfStudyRelatedInstances"),
        )

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> StudyMatch:
        """From one QIDO-RS JSON result (PS3.18 F.2)."""
        return cls.from_dataset(Dataset.from_json(item))

    def row(self) -> str:
        """One line for the terminal."""
        return "\t".join([self.study_uid, self.patient_id or "-", self.accession or "-", self.study_date or "-",
                          "/".join(self.modalities) or "-", str(self.n_instances if self.n_instances is not None else "?"),
                          self.description or ""])
