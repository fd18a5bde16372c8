"""Residual-PHI scan: compare a de-identified object with its original before publishing.

:func:`verify` harvests every identifying value of the *original* header that the
profile removes or replaces (:func:`~caselib.deid.engine.harvest_identifiers`:
names, identifiers, dates, instance UIDs, capped ages, private person names, File
Meta AE titles) and searches the *output* for them

1. in every element, at every nesting level, File Meta and private elements
   included (text values decoded with their character set; UIDs, dates and ages
   compared as text);
2. in the raw bytes of the encoded output (Pixel Data excluded, it is handled by
   :func:`~caselib.deid.pixels.pixel_phi_risk`), in every character set DICOM allows
   (UTF-8, UTF-16, the ISO 8859 family, GB18030/GBK, Big5, EUC-KR, EUC-JP, Shift-JIS,
   ISO 2022...), upper and lower case.

It also searches output free text (SH, LO, ST, LT, UT, UC, PN) for the configured
:data:`~caselib.deid.text.PATTERNS` (phone numbers, dates written in text, e-mail,
record numbers, long digit runs) and reports private elements that the profile's
allow-list does not cover.  Any hit blocks publication of the object.

False positives are kept rare by the needle rules of :mod:`caselib.deid.text`
(minimum lengths, whole-word matching, common words and name titles ignored; raw
bytes are searched only for forms of at least 4 bytes, ASCII needles as whole words).
A coincidence (a shifted date equal to another original date) can still block an
object; it is reported like any other hit for a human to judge.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> from caselib.deid.engine import Deidentifier
>>> original = Dataset()
>>> original.PatientName, original.PatientID = "Canaryname^Zelda", "CNRY-884211"
>>> original.StudyDescription = "CT chest"
>>> result = Deidentifier("teaching", secret=b"k" * 32).deidentify(original)
>>> verify(original, result.dataset).ok
True
>>> leaky = result.dataset
>>> leaky.StudyDescription = "CT chest of Zelda"
>>> report = verify(original, leaky)
>>> report.ok, [(h.path, h.value) for h in report.hits if h.where == "element"]
(False, [('StudyDescription', 'Zelda')])
"""
from __future__ import annotations

import bisect
import datetime as _dt
import io
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pydicom
from pydicom.charset import convert_encodings, decode_bytes, default_encoding
from pydicom.dataset import Dataset

from caselib.deid.engine import (
    _as_strings,
    _dict_vr,
    _kw,
    _plan_for,
    dataset_to_bytes,
    harvest_every_needle,
)
from caselib.deid.errors import ResidualPHIError
from caselib.deid.private import private_creator_of
from caselib.deid.profile import Profile
from caselib.deid.text import (
    ENCODINGS,
    PATTERNS,
    Needle,
    compile_matcher,
    encoded_forms,
    matcher_token,
    unique_needles,
)

__all__ = ["Hit", "VerificationReport", "verify"]

_FREE_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})
# Device attributes the profiles keep; their text (build dates in Software Versions) is
# searched for harvested identifiers but not for the generic date/phone/ID patterns.
PATTERN_EXEMPT_TAGS = frozenset({0x00081090, 0x00181020, 0x00080070})  # model, software, manufacturer
# Name words found in coded values (CS, Code Meaning) are controlled vocabulary, not names:
# a phantom "Perfusion^MCA Stroke" and ImageType PERFUSION, a placeholder "Enter^text" and
# ValueType TEXT.  Names are still searched everywhere else, raw bytes included.
_CODED_TAGS = frozenset({0x00080104})  # Code Meaning


def _coded(vr: str, tag: int) -> bool:
    return vr == "CS" or tag in _CODED_TAGS
_STRING_VRS = _FREE_TEXT_VRS | {"AE", "AS", "CS", "DA", "DT", "TM", "UI", "UR", "DS", "IS"}
_BULK = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_MIN_RAW_BYTES = 4


@dataclass(frozen=True)
class Hit:
    """One residual identifier found in the output.

    Attributes
    ----------
    kind : str
        Needle kind (``name``, ``identifier``, ``date``, ``uid``, ``age``),
        ``pattern:<name>`` or ``private`` (a private element not on the allow-list).
    value : str
        What was found (the identifying text itself: keep reports internal).
    path : str
        Tag path in the output, e.g. ``ContentSequence[0].TextValue``, also for a
        value found only in the raw bytes of an element (then ``encoding`` is set);
        ``byte <offset>`` when the bytes belong to no element value.
    where : str
        ``element``, ``private element``, ``file meta`` or ``raw bytes``.
    source : str
        Where the value was harvested in the original.
    encoding : str
        For raw-byte hits, the encoding that matched.
    """

    kind: str
    value: str
    path: str
    where: str
    source: str = ""
    encoding: str = ""

    def __str__(self) -> str:
        origin = f" (from {self.source})" if self.source else ""
        enc = f" [{self.encoding}]" if self.encoding else ""
        return f"{self.where} {self.path}: {self.kind} {self.value!r}{enc}{origin}"


@dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify` found.

    Attributes
    ----------
    hits : tuple of Hit
        Residual identifiers; empty when the output may be published.
    needles : int
        Number of identifying values searched for.
    elements_scanned : int
        Elements of the output examined (all levels).
    bytes_scanned : int
        Raw bytes searched (Pixel Data excluded).
    harvested : tuple of Needle
        The values searched for (PHI: keep private), then every date element's original
        date with its own path (for ``date_offset``; repeats some of the first), e.g. to
        re-scan an archive later with ``verify(Dataset(), path, extra_needles=report.harvested)``.
    """

    hits: tuple[Hit, ...]
    needles: int
    elements_scanned: int
    bytes_scanned: int
    harvested: tuple[Needle, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing was found (the object may be published)."""
        return not self.hits

    @property
    def paths(self) -> tuple[str, ...]:
        """The distinct tag paths with a hit, in order."""
        return tuple(dict.fromkeys(h.path for h in self.hits))

    def summary(self) -> str:
        """One line per hit, or ``"no residual PHI found"``."""
        if not self.hits:
            return f"no residual PHI found ({self.needles} values, {self.elements_scanned} elements, " \
                   f"{self.bytes_scanned} bytes)"
        return "\n".join(str(h) for h in self.hits)

    def raise_for_hits(self) -> None:
        """Raise :class:`ResidualPHIError` naming the tag paths if there is any hit."""
        if self.hits:
            paths = ", ".join(self.paths[:10]) + (" ..." if len(self.paths) > 10 else "")
            raise ResidualPHIError(f"residual PHI in {len(self.hits)} place(s): {paths}", report=self)


def _output_bytes(output: Dataset | bytes | bytearray | str | os.PathLike[str]) -> bytes:
    if isinstance(output, Dataset):
        return dataset_to_bytes(output)
    if isinstance(output, (bytes, bytearray, memoryview)):
        return bytes(output)
    if isinstance(output, (str, os.PathLike)):
        return Path(output).read_bytes()
    raise TypeError(f"output must be a Dataset, bytes or a path, got {type(output).__name__}")


def _scan_with_pydicom(data: bytes, needles: tuple[Needle, ...], profile: Profile | str | None,
                       patterns: dict[str, re.Pattern[str]], scan_raw: bool) -> tuple[list[Hit], int, int]:
    """The slow path for encodings the byte parser does not handle (big endian, deflated...)."""
    out_ds = pydicom.dcmread(io.BytesIO(data), force=True)
    scanner = _Scanner(needles, profile, patterns)
    meta = getattr(out_ds, "file_meta", None)
    if meta is not None:
        scanner.scan(meta, "", "file meta")
    scanner.scan(out_ds, "", "element")
    scanned = 0
    if scan_raw:
        found, scanned = _raw_hits(data, _bulk_ranges(out_ds), needles)
        for offset, form, text in found:
            needle = next((n for n in needles if n.text == text), None)
            if needle is not None and needle.kind == "name" and text.casefold() in scanner.coded_words:
                continue  # the element scan found this word only in coded values
            scanner.hits.append(Hit(needle.kind if needle else "identifier", text, f"byte {offset}", "raw bytes",
                                    needle.source if needle else "", _raw_encoding(form, text)))
    return scanner.hits, scanner.count, scanned


def _bulk_ranges(ds: Dataset) -> list[tuple[int, int]]:
    ranges = []
    for tag in _BULK:
        elem = ds._dict.get(tag)  # type: ignore[call-overload]
        if elem is None or not getattr(elem, "is_raw", False) or elem.value_tell is None:
            continue
        size = len(elem.value) if elem.value is not None else (elem.length if elem.length != 0xFFFFFFFF else 0)
        ranges.append((elem.value_tell, elem.value_tell + size))
    return sorted(ranges)


@lru_cache(maxsize=256)
def _raw_forms(needles: tuple[tuple[str, bool], ...]) -> tuple[tuple[bytes, str, bool], ...]:
    """Every byte form (lower case) of every needle: ``(form, needle text, whole word)``.

    The whole-word test applies to ASCII forms of word needles; it is done on each
    occurrence.  Forms are searched one by one with ``bytes.find`` (C speed, no regex
    alternation), and every occurrence is checked, overlapping ones included.
    """
    forms: dict[bytes, tuple[str, bool]] = {}
    for text, word in needles:
        for data in _forms_of(text):
            if len(data) < _MIN_RAW_BYTES:
                continue
            forms.setdefault(data.lower(), (text, word and data.isascii()))
    return tuple((form, text, word) for form, (text, word) in forms.items())


@lru_cache(maxsize=8192)
def _forms_of(text: str) -> tuple[bytes, ...]:
    """:func:`encoded_forms` of one needle text in every encoding (needle sets share texts)."""
    return tuple(encoded_forms(text, ENCODINGS))


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS = frozenset(b"0123456789")
_UID_MIN, _UID_MAX = 8, 64  # UIDs shorter than 8 characters are too likely to be something else


@lru_cache(maxsize=4096)
def _uid_forms(uid: str) -> tuple[tuple[bytes, int, int], ...]:
    """``(form, code unit size, offset of the character byte in a unit)`` of one UID:
    ASCII (= UTF-8, Latin-1...), UTF-16 LE and UTF-16 BE."""
    return ((uid.encode("ascii"), 1, 0), (uid.encode("utf-16-le"), 2, 0), (uid.encode("utf-16-be"), 2, 1))


def _whole_uid(chunk: bytes, a: int, b: int, unit: int, at: int) -> bool:
    """Whether the UID at ``chunk[a:b]`` is a whole run of digits and dots once dots at its
    ends are stripped: a neighbour run of dots may touch it, a digit beyond them may not."""
    i = a - unit
    while i >= 0 and chunk[i + at] == 0x2E and (unit == 1 or chunk[i + 1 - at] == 0):
        i -= unit
    if i >= 0 and chunk[i + at] in _DIGITS and (unit == 1 or chunk[i + 1 - at] == 0):
        return False
    j = b
    while j + unit <= len(chunk) and chunk[j + at] == 0x2E and (unit == 1 or chunk[j + 1 - at] == 0):
        j += unit
    return not (j + unit <= len(chunk) and chunk[j + at] in _DIGITS and (unit == 1 or chunk[j + 1 - at] == 0))


def _raw_hits(data: bytes, bulk: list[tuple[int, int]], needles: tuple[Needle, ...]
              ) -> tuple[list[tuple[int, bytes, str]], int]:
    """``(offset, bytes found, needle text)`` for every needle in ``data`` outside ``bulk``.

    Every byte form of every needle (:func:`_raw_forms`) is looked for with
    ``bytes.find`` in the lower-cased bytes between the bulk ranges.  A UID (unique
    to each object) counts only as a whole run of digits and dots, in ASCII or
    UTF-16, so a remapped UID that happens to contain an original one is no hit.
    Results are in the order of their offsets.
    """
    uids = sorted({n.text for n in needles if n.kind == "uid" and _UID_MIN <= len(n.text) <= _UID_MAX
                   and not n.text.strip("0123456789.")})
    forms = _raw_forms(_needle_key(needles))
    found: list[tuple[int, bytes, str]] = []
    scanned = 0
    start = 0
    for lo, hi in sorted(bulk) + [(len(data), len(data))]:
        chunk = data[start:lo].lower()
        n = len(chunk)
        scanned += n
        if n:
            find = chunk.find
            for form, text, word in forms:
                i = find(form)
                while i >= 0:
                    b = i + len(form)
                    if not (word and ((i > 0 and chunk[i - 1] in _WORD_BYTES) or (b < n and chunk[b] in _WORD_BYTES))):
                        found.append((start + i, form, text))
                    i = find(form, i + 1)
            for uid in uids:
                for form, unit, at in _uid_forms(uid):
                    i = find(form)
                    while i >= 0:
                        if _whole_uid(chunk, i, i + len(form), unit, at):
                            found.append((start + i, form, uid))
                        i = find(form, i + 1)
        start = max(start, hi)
    found.sort(key=lambda f: f[0])
    return found, scanned


def _needle_key(needles: tuple[Needle, ...]) -> tuple[tuple[str, bool], ...]:
    # dates are searched in the bytes as DA writes them (and ISO); their other spellings
    # only occur in text, which the element scan decodes and searches
    return tuple(sorted({(n.text, n.word) for n in needles
                         if n.kind not in ("age", "uid") and (n.kind != "date" or "/" not in n.text and
                                                              "." not in n.text and n.text[2:3] != "-")}))


def _raw_encoding(found: bytes, text: str) -> str:
    for encoding in ENCODINGS:
        if found in {f.lower() for f in encoded_forms(text, (encoding,))}:
            return encoding
    return ""


def _creators(ds: Dataset) -> dict[int, str]:
    out = {}
    for t, elem in ds._dict.items():
        if (t >> 16) & 1 and 0x0010 <= t & 0xFFFF <= 0x00FF:
            value = elem.value
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value or "")
            out[int(t)] = text.rstrip(" \x00")
    return out


class _Scanner:
    def __init__(self, needles: tuple[Needle, ...], profile: Profile | str | None,
                 patterns: dict[str, re.Pattern[str]]) -> None:
        self.matcher = compile_matcher(needles)
        self.by_text: dict[str, Needle] = {}
        for n in needles:
            self.by_text.setdefault(n.text.casefold(), n)
        self.ages = {n.text.strip().upper(): n for n in needles if n.kind == "age"}
        self.patterns = patterns
        self.plan = _plan_for(profile)
        self.hits: list[Hit] = []
        self.count = 0
        self.coded_words: set[str] = set()  # words of coded values: name hits there are vocabulary

    def scan(self, ds: Dataset, path: str, where: str) -> None:
        creators: dict[int, str] | None = None
        for btag in list(ds._dict.keys()):
            tag = int(btag)
            if tag in _BULK and not path:
                continue
            try:
                elem = ds[tag]
            except Exception as exc:  # undecodable: report rather than skip silently
                self.hits.append(Hit("undecodable", type(exc).__name__, path + _kw(tag), where))
                continue
            self.count += 1
            vr = elem.VR or _dict_vr(tag)
            p = path + _kw(tag)
            here = where
            if (tag >> 16) & 1 and where != "file meta":
                here = "private element"
                element = tag & 0xFFFF
                if not 0x0010 <= element <= 0x00FF:
                    if creators is None:
                        creators = _creators(ds)
                    creator = private_creator_of(creators, tag)
                    allow = self.plan.allow
                    if allow is None or creator is None or allow.lookup(tag >> 16, creator, tag & 0xFF) is None:
                        self.hits.append(Hit("private", f"private element of {creator!r}", p, here))
            if vr == "SQ":
                for i, item in enumerate(elem.value or ()):
                    self.scan(item, f"{p}[{i}].", here)
                continue
            if vr not in _STRING_VRS:
                continue
            for text in _as_strings(elem.value):
                if not text:
                    continue
                if vr == "AS" and text.strip().upper() in self.ages:
                    self.hits.append(Hit("age", text, p, here, self.ages[text.strip().upper()].source))
                if self.matcher is not None:
                    for m in self.matcher.finditer(text):
                        needle = self.by_text.get(m.group(0).casefold())
                        if needle is not None and needle.kind == "name" and _coded(vr, tag):
                            self.coded_words.add(m.group(0).casefold())
                            continue
                        self.hits.append(Hit(needle.kind if needle else "identifier", m.group(0), p, here,
                                             needle.source if needle else ""))
                if vr in _FREE_TEXT_VRS and int(tag) not in PATTERN_EXEMPT_TAGS:
                    for name, pattern in self.patterns.items():
                        for m in pattern.finditer(text):
                            self.hits.append(Hit(f"pattern:{name}", m.group(0), p, here))


# --------------------------------------------------------------------------- fast path: parse the bytes


class _NotParsable(Exception):
    """The encoded output is not little-endian Part 10; the pydicom-based scan is used."""


_TEXT_DELIMS = {0x0D, 0x0A, 0x09, 0x0C}
_PN_DELIMS = {0x5E}
_MULTI_VALUED = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UC", "UI"})
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"})
_DECODED: dict[tuple[bytes, tuple[str, ...], str], list[str]] = {}
_VALUE_HITS: dict[tuple[Any, ...], tuple[tuple[str, str, str], ...]] = {}
_unpack_tag = struct.Struct("<HH").unpack_from
_new_element = tuple.__new__  # _Element((...)) without the NamedTuple's Python-level __new__
_unpack_ul = struct.Struct("<L").unpack_from
_unpack_us = struct.Struct("<H").unpack_from


class _Element(NamedTuple):
    start: int
    end: int
    tag: int
    vr: str
    prefix: str  # the path of the data set holding the element ("" at the top)
    where: str
    encodings: tuple[str, ...]
    creator: str | None

    @property
    def path(self) -> str:
        """Where the element is, e.g. ``RequestAttributesSequence[0].RequestedProcedureDescription``
        (built only for a hit: most elements never need it)."""
        return self.prefix + _kw(self.tag)


# Element headers seen before, by their 8 bytes: (tag, group, element, VR, length or None when a
# 4-byte length follows).  The outputs of a series repeat most of their headers.
_HEADERS: dict[bool, dict[bytes, tuple[int, int, int, str, int | None]]] = {True: {}, False: {}}


def _element_header(head: bytes, implicit: bool) -> tuple[int, int, int, str, int | None]:
    group, element = _unpack_tag(head)
    tag = (group << 16) | element
    if implicit:
        length: int | None = _unpack_ul(head, 4)[0]
        vr = _dict_vr(tag)
        if length == 0xFFFFFFFF and tag != 0x7FE00010:
            vr = "SQ"
    else:
        vr = head[4:6].decode("ascii", "replace")
        length = None if vr in _LONG_VRS else _unpack_us(head, 6)[0]
    cache = _HEADERS[implicit]
    if len(cache) > 65536:
        cache.clear()
    cache[head] = found = (tag, group, element, vr, length)
    return found


def _parse_dataset(data: bytes, pos: int, end: int, implicit: bool, path: str, where: str,
                   encodings: tuple[str, ...], out: list[_Element], bulk: list[tuple[int, int]], depth: int) -> int:
    n = len(data)
    creators: dict[int, str] = {}
    headers = _HEADERS[implicit]
    while pos < end:
        if pos + 8 > n:
            raise _NotParsable("truncated element header")
        head = data[pos:pos + 8]
        if head[:2] == b"\xfe\xff":  # group FFFE: an item or a delimiter
            element = _unpack_us(head, 2)[0]
            if element in (0xE00D, 0xE0DD):
                return pos + 8
            raise _NotParsable("unexpected item tag")
        found = headers.get(head)
        if found is None:
            found = _element_header(head, implicit)
        tag, group, element, vr, length = found
        if length is None:
            length = _unpack_ul(data, pos + 8)[0]
            start = pos + 12
        else:
            start = pos + 8
        odd = group & 1 and where != "file meta"
        here = "private element" if odd else where
        if vr == "SQ" or (vr == "UN" and length == 0xFFFFFFFF):
            pos = _parse_items(data, start, length, implicit or vr == "UN", path + _kw(tag), here, encodings,
                               out, bulk, depth)
            continue
        if length == 0xFFFFFFFF:  # encapsulated pixel data: items up to the sequence delimiter
            q = start
            while True:
                if q + 8 > n:
                    raise _NotParsable("truncated encapsulated data")
                g, e = _unpack_tag(data, q)
                size = _unpack_ul(data, q + 4)[0]
                q += 8
                if (g, e) == (0xFFFE, 0xE0DD):
                    break
                q += size
            if depth == 0:
                bulk.append((start, q))
            pos = q
            continue
        stop = start + length
        if stop > n:
            raise _NotParsable("value beyond the end of the data")
        if depth == 0 and tag in _BULK:
            bulk.append((start, stop))
        else:
            creator = None
            if odd and 0x0010 <= element <= 0x00FF:
                creators[tag] = data[start:stop].decode("latin-1").rstrip(" \x00")
            elif odd and element >= 0x1000:
                creator = creators.get((tag & 0xFFFF0000) | (element >> 8), "")
            out.append(_new_element(_Element, (start, stop, tag, vr, path, here, encodings, creator)))
            if tag == 0x00080005:
                names = [v.strip() for v in data[start:stop].decode("ascii", "replace").split("\\")]
                encodings = tuple(convert_encodings(names))
        pos = stop
    return pos


def _parse_items(data: bytes, start: int, length: int, implicit: bool, path: str, where: str,
                 encodings: tuple[str, ...], out: list[_Element], bulk: list[tuple[int, int]], depth: int) -> int:
    end = len(data) if length == 0xFFFFFFFF else start + length
    pos, index = start, 0
    while pos < end:
        if pos + 8 > len(data):
            raise _NotParsable("truncated item")
        group, element = _unpack_tag(data, pos)
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos + 8
        if (group, element) != (0xFFFE, 0xE000):
            raise _NotParsable("expected an item")
        size = _unpack_ul(data, pos + 4)[0]
        item_end = len(data) if size == 0xFFFFFFFF else pos + 8 + size
        stop = _parse_dataset(data, pos + 8, item_end, implicit, f"{path}[{index}].", where, encodings, out, bulk,
                              depth + 1)
        pos = stop if size == 0xFFFFFFFF else item_end
        index += 1
    return end if length != 0xFFFFFFFF else pos


def _parse_part10(data: bytes) -> tuple[list[_Element], list[tuple[int, int]]]:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise _NotParsable("no Part 10 preamble")
    out: list[_Element] = []
    bulk: list[tuple[int, int]] = []
    pos = 132
    syntax = ""
    while pos + 8 <= len(data) and _unpack_tag(data, pos)[0] == 0x0002:
        stop = _parse_dataset(data, pos, pos + 1, False, "", "file meta", (default_encoding,), out, bulk, 0)
        last = out[-1]
        if last.tag == 0x00020010:
            syntax = data[last.start:last.end].decode("ascii", "replace").strip(" \x00")
        pos = stop
    if syntax in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1") or not syntax:
        raise _NotParsable("big endian, deflated or unknown transfer syntax")
    _parse_dataset(data, pos, len(data), syntax == "1.2.840.10008.1.2", "", "element", (default_encoding,),
                   out, bulk, 0)
    return out, bulk


def _decode(raw: bytes, vr: str, encodings: tuple[str, ...]) -> list[str]:
    key = (raw, encodings, vr)
    hit = _DECODED.get(key)
    if hit is not None:
        return hit
    if raw.isascii() and b"\x1b" not in raw:
        text = raw.decode("ascii")
    elif vr == "PN":
        text = "=".join(decode_bytes(g, list(encodings), _PN_DELIMS) for g in raw.split(b"="))
    else:
        text = decode_bytes(raw, list(encodings), _TEXT_DELIMS)
    text = text.rstrip(" \x00")
    values = [v.strip(" \x00") for v in text.split("\\")] if vr in _MULTI_VALUED else [text]
    if len(_DECODED) > 65536:
        _DECODED.clear()
    _DECODED[key] = values
    return values


@lru_cache(maxsize=8)
def _union(patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p.pattern})" if not p.flags & re.IGNORECASE else f"(?i:{p.pattern})"
                               for _, p in patterns))


def _pattern_union(patterns: dict[str, re.Pattern[str]]) -> re.Pattern[str]:
    """One regex that matches where any pattern does (a cheap first test per value)."""
    if not patterns:
        return re.compile(r"(?!x)x")
    return _union(tuple(patterns.items()))


def _scan_parsed(data: bytes, elements: list[_Element], bulk: list[tuple[int, int]], needles: tuple[Needle, ...],
                 plan: Any, patterns: dict[str, re.Pattern[str]], scan_raw: bool) -> tuple[list[Hit], int]:
    hits: list[Hit] = []
    # UIDs are unique to each object: compared as values (and found in the raw bytes),
    # so the regex of the other needles is compiled once per series
    matcher = compile_matcher(tuple(n for n in needles if n.kind != "uid"))
    uids = {n.text: n for n in needles if n.kind == "uid"}
    by_text: dict[str, Needle] = {}
    for n in needles:
        by_text.setdefault(n.text.casefold(), n)
    ages = {n.text.strip().upper(): n for n in needles if n.kind == "age"}
    union = _pattern_union(patterns)
    token, union_token = matcher_token(matcher), matcher_token(union)
    allow = plan.allow
    string_vrs = _STRING_VRS
    value_hits = _VALUE_HITS
    for start, end, tag, vr, prefix, where, encodings, creator in elements:
        if creator is not None and (allow is None or allow.lookup(tag >> 16, creator, tag & 0xFF) is None):
            hits.append(Hit("private", f"private element of {creator!r}", prefix + _kw(tag), where))
        if vr not in string_vrs:
            continue
        raw = data[start:end]
        cacheable = vr != "UI" and vr != "AS"
        if cacheable:
            cache_key = (token, union_token, vr, raw, encodings)
            cached = value_hits.get(cache_key)
            if cached is not None:  # the same value in the same context: the same hits
                if cached:
                    path = prefix + _kw(tag)
                    hits.extend(Hit(kind, value, path, where, source) for kind, value, source in cached)
                continue
        path = prefix + _kw(tag)
        try:
            values = _decode(raw, vr, encodings)
        except Exception as exc:  # undecodable: report rather than skip silently
            hits.append(Hit("undecodable", type(exc).__name__, path, where))
            continue
        mark = len(hits)
        for text in values:
            if not text:
                continue
            if vr == "AS" and text.upper() in ages:
                hits.append(Hit("age", text, path, where, ages[text.upper()].source))
            if vr == "UI":
                if text in uids:
                    hits.append(Hit("uid", text, path, where, uids[text].source))
                continue
            if matcher is not None:
                for m in matcher.finditer(text):
                    needle = by_text.get(m.group(0).casefold())
                    if needle is not None and needle.kind == "name" and _coded(vr, tag):
                        continue
                    hits.append(Hit(needle.kind if needle else "identifier", m.group(0), path, where,
                                    needle.source if needle else ""))
            if vr in _FREE_TEXT_VRS and tag not in PATTERN_EXEMPT_TAGS and union.search(text):
                for name, pattern in patterns.items():
                    for m in pattern.finditer(text):
                        hits.append(Hit(f"pattern:{name}", m.group(0), path, where))
        if cacheable:
            if len(value_hits) > 65536:
                value_hits.clear()
            value_hits[cache_key] = tuple((h.kind, h.value, h.source) for h in hits[mark:])
    scanned = 0
    if scan_raw:
        starts = [el.start for el in elements]
        found, scanned = _raw_hits(data, bulk, needles)
        for offset, form, text in found:
            needle = by_text.get(text.casefold())
            i = bisect.bisect_right(starts, offset) - 1
            if i >= 0 and elements[i].start <= offset < elements[i].end:
                if needle is not None and needle.kind == "name" and _coded(elements[i].vr, elements[i].tag):
                    continue
                path, where = elements[i].path, elements[i].where
            else:
                path, where = f"byte {offset}", "raw bytes"
            hits.append(Hit(needle.kind if needle else "identifier", text, path, where,
                            needle.source if needle else "", _raw_encoding(form, text)))
    return hits, scanned


def _shift_ymd(text: str, days: int) -> str | None:
    """``YYYYMMDD`` moved by whole days (the verifier's own arithmetic, not the engine's)."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:])) + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _shifted_own_date(value: str, vr: str, originals: list[str], days: int) -> bool:
    """Whether one output DA value (a DT: its date part) is one of its element's original dates
    (``YYYYMMDD``) shifted by ``days``, and not that original itself."""
    value = value.strip(" \x00")
    if "\\" in value or len(value) < 8 or not value[:8].isdigit() or (vr == "DA" and len(value) != 8):
        return False
    date = value[:8]
    return any(o != date and _shift_ymd(o, days) == date for o in originals)


def _without_shifted_own_dates(hits: list[Hit], data: bytes, elements: list[_Element],
                               date_sources: tuple[Needle, ...], days: int) -> list[Hit]:
    """``hits`` less the date hits inside a DA/DT element that holds its own original date shifted
    by ``days``.  An element's original dates are the date needles harvested from its path."""
    originals: dict[str, list[str]] = {}
    for n in date_sources:
        originals.setdefault(n.source, []).append(n.text)
    shifted_paths = set()
    for el in elements:
        if el.vr in ("DA", "DT") and el.path in originals:
            text = data[el.start:el.end].decode("ascii", "replace")
            if _shifted_own_date(text, el.vr, originals[el.path], days):
                shifted_paths.add(el.path)
    return [h for h in hits if not (h.kind == "date" and h.path in shifted_paths)]


def verify(
    original: Dataset,
    output: Dataset | bytes | bytearray | str | os.PathLike[str],
    *,
    profile: Profile | str | None = None,
    patterns: dict[str, re.Pattern[str]] | None = None,
    scan_raw: bool = True,
    extra_needles: Iterable[Needle] = (),
    date_offset: int | None = None,
) -> VerificationReport:
    """Scan ``output`` for every identifying value of ``original`` (see the module docstring).

    Parameters
    ----------
    original : pydicom.dataset.Dataset
        The object as received (before de-identification).
    output : Dataset, bytes or path
        The de-identified object, or its encoded file; a Dataset is encoded first,
        so what is checked is what would be written.
    profile : Profile or str, optional
        The profile used (default ``teaching``): it decides which original values
        were meant to go and which private elements may stay.
    patterns : dict, optional
        Patterns searched in output free text; default :data:`~caselib.deid.text.PATTERNS`.
    scan_raw : bool
        Also search the raw bytes (default true).
    extra_needles : iterable of Needle
        More values to search for (e.g. identifiers known from the request).
    date_offset : int, optional
        The whole-day offset the de-identifier shifted this patient's dates by.  Given, a
        date found in a DA or DT element is not a hit when that element holds exactly its
        own original date shifted by this offset (:func:`_shifted_own_date`): a shifted date
        that happens to equal another original date of the object.  Without it such a
        coincidence blocks the object, as any other hit does.

    Returns
    -------
    VerificationReport
        ``report.ok`` is true when nothing was found; ``report.raise_for_hits()``
        raises :class:`~caselib.deid.errors.ResidualPHIError` otherwise.
    """
    if not isinstance(original, Dataset):
        raise TypeError(f"original must be a pydicom Dataset, got {type(original).__name__}")
    every = harvest_every_needle(original, profile)
    extra = tuple(extra_needles)
    needles = unique_needles(every) + extra
    # every date element's original value, by its path (duplicates included): kept with the
    # needles so that a re-scan from them alone (`caselib verify ARCHIVE`) can do the same
    date_sources = tuple(n for n in (*every, *extra) if n.kind == "date" and len(n.text) == 8 and n.text.isdigit())
    data = _output_bytes(output)
    chosen = PATTERNS if patterns is None else patterns
    try:
        elements, bulk = _parse_part10(data)
    except (_NotParsable, struct.error):
        hits, count, scanned = _scan_with_pydicom(data, needles, profile, chosen, scan_raw)
    else:
        hits, scanned = _scan_parsed(data, elements, bulk, needles, _plan_for(profile), chosen, scan_raw)
        count = len(elements)
        if date_offset and any(h.kind == "date" for h in hits):
            hits = _without_shifted_own_dates(hits, data, elements, date_sources, date_offset)

    unique: dict[tuple[str, str, str, str], Hit] = {}
    for hit in hits:
        unique.setdefault((hit.kind, hit.value.casefold(), hit.path, hit.where), hit)
    return VerificationReport(
        hits=tuple(unique.values()),
        needles=len(needles),
        elements_scanned=count,
        bytes_scanned=scanned,
        harvested=needles + date_sources,
    )
