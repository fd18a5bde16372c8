"""Identifiers as search needles: harvesting rules, free-text scrubbing, encodings.

The Clean Descriptors option and the residual-PHI verifier share one notion of
"an identifying value of this file": every value that the profile removes or
replaces (names, IDs, addresses, dates, UIDs...) is turned into *needles*, and free
text is searched for them.  To keep false positives rare the rules below decide
which strings become needles (all lengths in characters, after stripping):

==================  =========================================================
kind                needles
==================  =========================================================
``name`` (PN)       each name component and each space-separated word of it
                    with at least 3 letters (2 for CJK, kana or hangul), minus
                    titles and placeholders (DR, MD, JR, TEST, ANONYMOUS...);
                    for CJK, family+given written together (王小东).
``identifier``      the whole value if at least 4 characters; each token
                    (split on spaces and punctuation other than ``-``) of at
                    least 4 characters that has a digit, or that has only
                    letters and is not a common word (HOSPITAL, GENERAL,
                    RADIOLOGY...).  Attributes whose keyword names an
                    identity: ID, Number, Name, Address, Telephone, Institution,
                    Station, Department, Location, AE titles...
``text``            other removed free text: the whole value if at least 12
                    characters (a Reason for Study is not split into words).
``date``            a removed or shifted DA (or DT date part) written as
                    YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, DD/MM/YYYY,
                    MM/DD/YYYY, DD.MM.YYYY, DD-MM-YYYY.
``uid``             a replaced instance UID (never a class UID).
``age``             a capped age (``095Y``), only compared with AS values.
==================  =========================================================

Names, identifiers and tokens match case-insensitively and only as whole words
(not preceded or followed by a letter, digit or underscore), so ``Ann`` does not hit
``ANNOTATION``; CJK needles, dates and UIDs match anywhere.  Besides needles, the
configured :data:`PATTERNS` (phone numbers, e-mail addresses, dates written in free
text, long digit runs and labelled record numbers) are searched in free text.

Examples
--------
>>> needles = needles_from_value("name", "Canaryname^Zelda^Q=王^小东", "PatientName")
>>> sorted(n.text for n in needles)
['Canaryname', 'Zelda', '小东', '王 小东', '王小东']
>>> matcher = compile_matcher(tuple(needles))
>>> scrub_text("CT chest of ZELDA canaryname, 2024-03-15, tel 555-867-5309", matcher)
'CT chest of *** ***, ***, tel ***'
>>> scrub_text("王小东 随访", matcher)
'*** 随访'
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
import itertools
import weakref
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "Needle",
    "needles_from_value",
    "compile_matcher",
    "scrub_text",
    "find_patterns",
    "encoded_forms",
    "harvest_kind",
    "unique_needles",
    "matcher_token",
    "PATTERNS",
    "ENCODINGS",
    "NAME_STOPWORDS",
    "COMMON_WORDS",
    "MIN_LENGTH",
    "MIN_NAME_LENGTH",
    "MIN_CJK_LENGTH",
    "MIN_TEXT_LENGTH",
    "REPLACEMENT",
]

MIN_LENGTH = 4
MIN_NAME_LENGTH = 3
MIN_CJK_LENGTH = 2
MIN_TEXT_LENGTH = 12
#: what scrubbed identifiers are replaced with in free text
REPLACEMENT = "***"

#: titles, suffixes and placeholders that are not names of a person
NAME_STOPWORDS = frozenset("""
DR DRS MD MR MRS MS MISS PROF PHD JR SR II III IV RN DO DDS MBBS FRCR FRCP
ANON ANONYMOUS ANONYMIZED ANONYMISED UNKNOWN NONE NULL NAME PATIENT TEST DOCTOR PHYSICIAN
""".split())

#: common words of institution, department and address values (never needles on their own)
COMMON_WORDS = frozenset("""
HOSPITAL HOSPITALS GENERAL CLINIC CLINICS CLINICAL MEDICAL MEDICINE CENTER CENTRE CENTERS UNIVERSITY
RADIOLOGY IMAGING DEPARTMENT DEPT DEFAULT HEALTH HEALTHCARE SERVICE SERVICES REGIONAL MEMORIAL
COMMUNITY CHILDREN CHILDRENS NATIONAL INSTITUTE FOUNDATION SAINT COUNTY CITY STREET ROAD AVENUE
LANE DRIVE SUITE FLOOR BUILDING ROOM UNIT WARD NORTH SOUTH EAST WEST MAIN EMER EMERGENCY
OUTPATIENT INPATIENT ONCOLOGY CARDIOLOGY NEUROLOGY NEURO SURGERY ORTHOPEDICS PEDIATRICS
CHEST HEAD BRAIN BODY SPINE ABDOMEN PELVIS HEART LUNG LIVER KIDNEY BREAST KNEE HAND FOOT NECK
UNKNOWN NONE NULL TEST ANONYMOUS ANONYMIZED SCANNER STATION CONSOLE WORKSTATION
""".split())

#: encodings tried when searching raw bytes (every character set of PS3.3 C.12.1.1.2)
ENCODINGS = (
    "utf-8", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "iso8859-2", "iso8859-3", "iso8859-4",
    "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-9", "iso8859-15", "tis-620",
    "gb18030", "gbk", "big5", "euc-kr", "euc-jp", "shift_jis", "iso2022_jp", "iso2022_kr",
)

_CJK_RE = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3100-\u318f\u3400-\u4dbf\u4e00-\u9fff"
                     "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f]")
_TOKEN_SPLIT_RE = re.compile(r"[\s^=,;:/\\|()\[\]{}<>\"'.#*&+!?~]+")
_HAS_DIGIT_RE = re.compile(r"\d")
_IDENTITY_KEYWORD_RE = re.compile(
    r"(ID$|IDs$|Id$|UID$|Number|Numbers$|Name|Names$|Address|Telephone|Telecom|Email|Identifier|Serial|"
    r"Station|Institution|Department|Location|Accession|Issuer|Barcode|Label|AETitle|EntityTitle|Occupation|"
    r"Country|Region|Organization|Network|Phone|Insurance|Religious|Military|Branch|Origin)"
)
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT", "UR"})


def harvest_kind(keyword: str, vr: str) -> str | None:
    """Kind of needle an identifying element gives (``None``: nothing to search for).

    >>> harvest_kind("PatientName", "PN"), harvest_kind("StationName", "SH")
    ('name', 'identifier')
    >>> harvest_kind("ReasonForStudy", "LO"), harvest_kind("PatientWeight", "DS")
    ('text', None)
    >>> harvest_kind("TypeOfPatientID", "CS") is None
    True
    """
    if vr == "PN":
        return "name"
    if vr in ("DA", "DT"):
        return "date"
    if vr == "UI":
        return "uid"
    if vr == "AS":
        return "age"
    if vr == "CS":
        return None  # code strings: enumerated and defined terms, not identities
    if vr in _TEXT_VRS:
        return "identifier" if keyword and _IDENTITY_KEYWORD_RE.search(keyword) else "text"
    return None


class Needle(NamedTuple):
    """A string to search for, with the place it was harvested from.

    Attributes
    ----------
    text : str
        The string as it appears in the original.
    kind : str
        ``name``, ``identifier``, ``text``, ``date``, ``uid`` or ``age``.
    source : str
        Tag path in the original, e.g. ``"OtherPatientIDsSequence[0].PatientID"``.
    word : bool
        Match only as a whole word.
    """

    text: str
    kind: str
    source: str = ""
    word: bool = True


def _is_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def _long_enough(text: str, latin_min: int) -> bool:
    if _is_cjk(text):
        return len(text) >= MIN_CJK_LENGTH
    return len(text) >= latin_min


def _date_forms(value: str) -> list[str]:
    text = value.strip()[:8]
    if len(text) != 8 or not text.isdigit():
        return []
    try:
        _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return []
    y, m, d = text[:4], text[4:6], text[6:]
    return [text, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}",
            f"{d}.{m}.{y}", f"{d}-{m}-{y}"]


_UID_LIKE_RE = re.compile(r"[0-9]+(?:\.[0-9]+){3,}")


def needles_from_value(kind: str, value: str, source: str = "") -> list[Needle]:
    """The needles one harvested value gives (see the module docstring for the rules).

    >>> [n.text for n in needles_from_value("identifier", "SGH SPRINGFIELD GENERAL HOSPITAL")]
    ['SGH SPRINGFIELD GENERAL HOSPITAL', 'SPRINGFIELD']
    >>> [n.text for n in needles_from_value("date", "20240315")][:3]
    ['20240315', '2024-03-15', '2024/03/15']
    >>> needles_from_value("name", "Li^Wu")
    []
    >>> [(n.text, n.kind) for n in needles_from_value("identifier", "1.2.826.0.1.3680043.2.1125.1")]
    [('1.2.826.0.1.3680043.2.1125.1', 'uid')]
    """
    text = str(value).strip().strip("\x00").strip()
    if not text:
        return []
    out: list[Needle] = []
    if kind == "name":
        for group in text.split("="):
            parts = [p.strip() for p in group.split("^")]
            words: list[str] = []
            for part in parts[:3]:
                if not part:
                    continue
                words.append(part)
                if " " in part:
                    words.extend(w for w in part.split() if w)
            for word in words:
                bare = word.strip(".,")
                if _long_enough(bare, MIN_NAME_LENGTH) and bare.upper() not in NAME_STOPWORDS:
                    out.append(Needle(bare, "name", source, word=not _is_cjk(bare)))
            if _is_cjk(group):
                family, given = (parts + ["", ""])[:2]
                if family and given:
                    out.append(Needle(family + given, "name", source, word=False))
                    out.append(Needle(f"{family} {given}", "name", source, word=False))
    elif kind == "identifier" and _UID_LIKE_RE.fullmatch(text):
        # an identifier written as a UID (e.g. a Scheduled Procedure Step ID) is searched
        # whole: its dotted components are registry roots shared by unrelated UIDs
        out.append(Needle(text, "uid", source, word=False))
    elif kind == "identifier":
        if _long_enough(text, MIN_LENGTH) and text.upper() not in COMMON_WORDS:
            out.append(Needle(text, "identifier", source, word=not _is_cjk(text)))
        for token in _TOKEN_SPLIT_RE.split(text):
            token = token.strip("-_")
            if token == text or not _long_enough(token, MIN_LENGTH):
                continue
            if _HAS_DIGIT_RE.search(token) or (token.upper() not in COMMON_WORDS
                                               and token.upper() not in NAME_STOPWORDS):
                out.append(Needle(token, "identifier", source, word=not _is_cjk(token)))
    elif kind == "text":
        if len(text) >= MIN_TEXT_LENGTH or (_is_cjk(text) and len(text) >= 4):
            out.append(Needle(text, "text", source, word=not _is_cjk(text)))
    elif kind == "date":
        out.extend(Needle(form, "date", source, word=False) for form in _date_forms(text))
    elif kind == "uid":
        if len(text) >= 8:
            out.append(Needle(text, "uid", source, word=False))
    elif kind == "age":
        out.append(Needle(text, "age", source, word=False))
    else:
        raise ValueError(f"unknown needle kind {kind!r}")
    seen: set[tuple[str, bool]] = set()
    unique = []
    for needle in out:
        key = (needle.text.casefold(), needle.word)
        if key not in seen:
            seen.add(key)
            unique.append(needle)
    return unique


_BOUND_L = r"(?<!\w)"
_BOUND_R = r"(?!\w)"


def compile_matcher(needles: Iterable[Needle]) -> re.Pattern[str] | None:
    """One case-insensitive regex for all needles (cached by needle texts).

    ``age`` needles are left out (they are compared with AS values only).  Returns
    ``None`` when there is nothing to search for.  The slices of a series share
    their needles, so the compiled regex is reused across them.
    """
    key = frozenset([(n.text, n.word) for n in needles if n.kind != "age"])  # any iterable, read once
    hit = _MATCHERS.get(key, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    words = {text for text, word in key if word}
    plain = {text for text, word in key if not word}
    matcher = _compile(tuple(sorted(words, key=_longest_first)), tuple(sorted(plain, key=_longest_first)))
    if len(_MATCHERS) >= 4096:
        _MATCHERS.clear()
    _MATCHERS[key] = matcher
    return matcher


def _longest_first(text: str) -> tuple[int, str]:
    return (-len(text), text)


_MISSING = object()
# compiled matchers by needle set: building the sorted pattern lists is the costly part of a hit
_MATCHERS: dict[frozenset[tuple[str, bool]], re.Pattern[str] | None] = {}


_SERIALS: dict[int, tuple[weakref.ref[re.Pattern[str]], int]] = {}
_SERIAL = itertools.count()


def matcher_token(matcher: re.Pattern[str] | None) -> int:
    """A number that identifies a compiled matcher for as long as it lives.

    Used in cache keys instead of the pattern itself, whose hash is recomputed from
    its (long) source on every lookup.

    >>> m = compile_matcher([Needle("Zelda", "name")])
    >>> matcher_token(m) == matcher_token(m) != matcher_token(None)
    True
    """
    if matcher is None:
        return -1
    entry = _SERIALS.get(id(matcher))
    if entry is not None and entry[0]() is matcher:
        return entry[1]
    serial = next(_SERIAL)
    if len(_SERIALS) > 4096:
        _SERIALS.clear()
    _SERIALS[id(matcher)] = (weakref.ref(matcher), serial)
    return serial


@lru_cache(maxsize=512)
def _compile(words: tuple[str, ...], plain: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = []
    if words:
        parts.append(_BOUND_L + "(?:" + "|".join(map(re.escape, words)) + ")" + _BOUND_R)
    if plain:
        parts.append("(?:" + "|".join(map(re.escape, plain)) + ")")
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:1[89]|20)\d\d"

#: patterns searched in free text besides the harvested needles (compiled once)
PATTERNS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w])"
    ),
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "date": re.compile(
        rf"(?<![\d.])(?:{_YEAR}[-/.]{_MONTH}[-/.]{_DAY}|{_DAY}[-/.]{_MONTH}[-/.]{_YEAR}|"
        rf"{_MONTH}[-/.]{_DAY}[-/.]{_YEAR}|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![\d])"
    ),
    "date-words": re.compile(
        rf"\b(?:{_DAY}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+{_YEAR}|{_MONTHS}\s+{_DAY}(?:st|nd|rd|th)?,?\s+{_YEAR})\b",
        re.IGNORECASE,
    ),
    "record-number": re.compile(
        r"\b(?:MRN|MR\s?#|PID|patient\s+id|acc(?:ession)?(?:\s*(?:no|number|#))?)\s*[#:.-]?\s*[A-Z0-9-]*\d[A-Z0-9-]*",
        re.IGNORECASE,
    ),
    "digits": re.compile(r"(?<![\w.\-])\d{7,}(?![\w.\-])"),
}


def find_patterns(text: str, patterns: dict[str, re.Pattern[str]] | None = None) -> list[tuple[str, str]]:
    """``(pattern name, matched text)`` for every pattern hit in ``text``.

    >>> find_patterns("call (555) 867-5309 or j.doe@example.org")
    [('phone', '(555) 867-5309'), ('email', 'j.doe@example.org')]
    >>> find_patterns("AX T1 3.0mm 256x256 BRAIN SEQ 4.8 H31s")
    []
    """
    hits: list[tuple[str, str]] = []
    for name, pattern in (PATTERNS if patterns is None else patterns).items():
        hits.extend((name, m.group(0)) for m in pattern.finditer(text))
    return hits


_JUNK_RE = re.compile(r"^[\W_]*$")


def scrub_text(text: str, matcher: re.Pattern[str] | None,
               patterns: dict[str, re.Pattern[str]] | None = None) -> str:
    """Replace needles and pattern hits by ``***``; nothing meaningful left gives ``""``.

    >>> scrub_text("Seen by Dr Who", None)
    'Seen by Dr Who'
    >>> scrub_text("555-867-5309", None)
    ''
    """
    out = text
    if matcher is not None:
        out = matcher.sub(REPLACEMENT, out)
    for pattern in (PATTERNS if patterns is None else patterns).values():
        out = pattern.sub(REPLACEMENT, out)
    if out is text or out == text:
        return text
    if _JUNK_RE.match(out.replace(REPLACEMENT, "")):
        return ""
    return out


def encoded_forms(text: str, encodings: Sequence[str] = ENCODINGS) -> set[bytes]:
    """Every byte form of ``text`` (as is, upper and lower case) in ``encodings``.

    ISO 2022 forms are also given without their escape sequences, as a
    multi-valued or multi-component value may switch sets elsewhere.

    >>> sorted(encoded_forms("王", ("utf-8", "gb18030")))
    [b'\\xcd\\xf5', b'\\xe7\\x8e\\x8b']
    """
    variants = {text, text.upper(), text.lower()}
    out: set[bytes] = set()
    for variant in variants:
        for encoding in encodings:
            try:
                data = variant.encode(encoding)
            except (UnicodeEncodeError, LookupError):
                continue
            if encoding.startswith("utf-16") and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                data = data[2:]
            out.add(data)
            if encoding.startswith("iso2022"):
                stripped = re.sub(rb"\x1b[\x24\x28\x29][\x28\x29]?[@-~]", b"", data).replace(b"\x0e", b"").replace(b"\x0f", b"")
                if len(stripped) >= 4:
                    out.add(stripped)
    return {b for b in out if b}


def unique_needles(needles: Iterable[Needle]) -> tuple[Needle, ...]:
    """Needles with duplicate texts removed (first source kept), in a stable order."""
    seen: set[tuple[str, str, bool]] = set()
    out = []
    for n in needles:
        key = (n.text.casefold(), n.kind, n.word)
        if key not in seen:
            seen.add(key)
            out.append(n)
    return tuple(out)
