"""Small pure functions on DICOM values: date shifting, age capping, dummies, UIDs.

Each function takes plain values and returns plain values; none touches a dataset, so
each is tested on its own and reused by the de-identifier and the verifier.

Examples
--------
>>> shift_date("20240315", -10)
'20240305'
>>> shift_datetime("20240315101530.5+0100", -365)
'20230316101530.5+0100'
>>> cap_age("095Y")
'090Y'
>>> uid_from_digest(bytes(range(32)))
'2.25.5233100606847278184134747173490191'
"""
from __future__ import annotations

import datetime as _dt
import re
import uuid

__all__ = [
    "shift_date",
    "shift_datetime",
    "cap_age",
    "age_in_years",
    "dummy_value",
    "uid_from_digest",
    "is_well_known_uid",
    "DUMMY_TEXT",
]

#: dummy text written for the action D on text attributes (PS3.15 E.1.1 note 2)
DUMMY_TEXT = "ANONYMIZED"

_ORDINAL_MIN = _dt.date(1, 1, 1).toordinal()
_ORDINAL_MAX = _dt.date(9999, 12, 31).toordinal()


def _shift_ymd(y: int, m: int, d: int, days: int) -> tuple[int, int, int] | None:
    try:
        ordinal = _dt.date(y, m, d).toordinal() + days
    except ValueError:
        return None
    if not _ORDINAL_MIN <= ordinal <= _ORDINAL_MAX:
        return None
    date = _dt.date.fromordinal(ordinal)
    return date.year, date.month, date.day


def shift_date(value: str, days: int) -> str | None:
    """Shift a DA value (``YYYYMMDD``, VM 1; ranges ``A-B`` too) by whole days.

    Returns ``""`` for an empty value and ``None`` for a value that is not a valid date
    (the caller removes it rather than keeping something it cannot read).  The old
    ACR-NEMA form ``YYYY.MM.DD`` is accepted and written as ``YYYYMMDD``.

    >>> shift_date("20240301", -1)
    '20240229'
    >>> shift_date("20240301-20240310", 7)
    '20240308-20240317'
    >>> shift_date("2024.03.01", 0)
    '20240301'
    >>> shift_date("20241341", 0) is None
    True
    """
    text = value.strip()
    if not text:
        return ""
    if "-" in text:
        parts = text.split("-")
        if len(parts) != 2:
            return None
        shifted = [shift_date(p, days) if p else "" for p in parts]
        if any(s is None for s in shifted):
            return None
        return "-".join(s for s in shifted if s is not None)
    if len(text) == 10 and text[4] == "." and text[7] == ".":
        text = text[:4] + text[5:7] + text[8:]
    if len(text) != 8 or not text.isdigit():
        return None
    ymd = _shift_ymd(int(text[:4]), int(text[4:6]), int(text[6:]), days)
    if ymd is None:
        return None
    return f"{ymd[0]:04d}{ymd[1]:02d}{ymd[2]:02d}"


_DT_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{0,6}(?:\.\d{1,6})?)?([+-]\d{4})?$")


def shift_datetime(value: str, days: int) -> str | None:
    """Shift the date part of a DT value by whole days; time and UTC offset are kept.

    A value of reduced precision keeps its precision: ``YYYY`` and ``YYYYMM`` are read
    as the first day of the year or month, shifted, and truncated back.

    >>> shift_datetime("20240315", 20)
    '20240404'
    >>> shift_datetime("2024", -400)
    '2022'
    >>> shift_datetime("not a date", 3) is None
    True
    """
    text = value.strip()
    if not text:
        return ""
    m = _DT_RE.match(text)
    if not m:
        return None
    year, month, day, time, tz = m.groups()
    ymd = _shift_ymd(int(year), int(month or 1), int(day or 1), days)
    if ymd is None:
        return None
    out = f"{ymd[0]:04d}"
    if month:
        out += f"{ymd[1]:02d}"
        if day:
            out += f"{ymd[2]:02d}" + (time or "")
    return out + (tz or "")


_AS_RE = re.compile(r"^(\d{3})([DWMY])$")
_AS_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def age_in_years(value: str) -> float | None:
    """Age of an AS value in years, or ``None`` if it is not ``nnnD/W/M/Y``.

    >>> age_in_years("018M")
    1.5
    """
    m = _AS_RE.match(value.strip().upper())
    if not m:
        return None
    return int(m.group(1)) * _AS_YEARS[m.group(2)]


def cap_age(value: str, max_years: int = 89) -> str:
    """Aggregate ages above ``max_years``: an AS value over 89 years becomes ``090Y``.

    AS cannot encode "90+", so ``090Y`` stands for "90 years or older" (the HIPAA
    Safe Harbor aggregation; documented in the conformance notes).  A value that is
    not valid AS is returned as ``""`` since it cannot be checked.

    >>> cap_age("089Y"), cap_age("095Y"), cap_age("999M")
    ('089Y', '090Y', '999M')
    >>> cap_age("95 years")
    ''
    """
    text = value.strip()
    if not text:
        return ""
    years = age_in_years(text)
    if years is None:
        return ""
    if years > max_years:
        return f"{max_years + 1:03d}Y"
    return text.upper()


_DUMMY = {
    "AE": "ANONYMIZED",
    "AS": "000D",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
    "UC": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "UR": "urn:caselib:anonymized",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
    "AT": 0,
}


def dummy_value(vr: str, length: int = 0) -> object:
    """A non-zero length dummy value consistent with ``vr`` (action ``D``).

    Binary VRs get ``length`` zero bytes (at least 2, even), so the element keeps its
    size; ``SQ`` and ``UI`` are not handled here (sequences are cleaned item by item,
    UIDs remapped).

    >>> dummy_value("PN"), dummy_value("DA"), dummy_value("OB", 3)
    ('ANONYMIZED', '19000101', b'\\x00\\x00\\x00\\x00')
    """
    if vr in _DUMMY:
        return _DUMMY[vr]
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        n = max(2, length + (length & 1))
        return b"\x00" * n
    raise ValueError(f"no dummy value for VR {vr!r}")


def uid_from_digest(digest: bytes) -> str:
    """A ``2.25`` UID from the first 16 bytes of a digest (PS3.5 B.2).

    The 128 bits are made a version-8 (custom) RFC 9562 UUID, so the UID is a valid
    UUID-derived UID; it has at most 44 characters.

    >>> uid = uid_from_digest(b"\\xff" * 32)
    >>> uid.startswith("2.25."), len(uid) <= 64
    (True, True)
    """
    if len(digest) < 16:
        raise ValueError(f"need at least 16 bytes of digest, got {len(digest)}")
    value = int.from_bytes(digest[:16], "big")
    value &= ~(0xF000 << 64)
    value |= 0x8 << 76  # version 8
    value &= ~(0xC000 << 48)
    value |= 0x8000 << 48  # RFC 4122/9562 variant
    return f"2.25.{uuid.UUID(int=value).int}"


def is_well_known_uid(uid: str) -> bool:
    """True for UIDs defined by the standard: under the DICOM root or in pydicom's registry.

    These (SOP classes, transfer syntaxes, coding schemes, well-known frames of
    reference...) are never remapped.

    >>> is_well_known_uid("1.2.840.10008.5.1.4.1.1.2"), is_well_known_uid("1.2.3.4")
    (True, False)
    """
    return uid.startswith("1.2.840.10008.") or uid in _uid_registry()


_UID_REGISTRY: frozenset[str] | None = None


def _uid_registry() -> frozenset[str]:
    global _UID_REGISTRY
    if _UID_REGISTRY is None:
        from pydicom._uid_dict import UID_dictionary

        _UID_REGISTRY = frozenset(UID_dictionary)
    return _UID_REGISTRY
