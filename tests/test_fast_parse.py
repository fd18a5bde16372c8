"""The fast Part 10 reader builds exactly the dataset ``pydicom.dcmread`` builds.

:func:`caselib.dicom.fastread.read_part10` is compared with
``pydicom.dcmread(io.BytesIO(data), force=False)`` on every file of the data
manifest, on the de-identification benchmark's corpus, on crafted files that
take its rarer paths (implicit VR sequences, an Explicit VR file whose UN
sequence is Implicit VR inside, empty items, a character set inside an item,
trailing bytes) and on the hostile and mutated inputs of the ingest tests:
either it declines (:class:`~caselib.dicom.fastread.NotFast`) or it returns the
same preamble, file meta, raw elements, sequences, item attributes and
original encodings, with the same warnings, and de-identifying either dataset
writes the same bytes.  :func:`caselib.ingest.parse_object` must then take the
fast path for ordinary files, fall back to pydicom for the others, and give
the same result or the same error as pydicom alone.
"""
from __future__ import annotations

import importlib.util
import io
import random
import struct
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from ingest_fixtures import make_ct, to_part10, truncate, uid, with_raw_element_patched
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.sequence import Sequence

from caselib.data import fetch, load_manifest
from caselib.deid import Deidentifier, dataset_to_bytes
from caselib.dicom.fastread import NotFast, read_part10, read_sequence_element, shared_tag
from caselib.ingest import InvalidObjectError, parse_object
from caselib.ingest import validate as validate_module

MANIFEST = load_manifest()
SECRET = b"fast-parse-test-secret-0123456789"
# real CT and MR series: every file must take the fast path
ORDINARY = ("tcia-lung-ct", "tcia-gbm-mr", "ge-head-ct", "pediatric-brain-mr", "tcia-covid-ct-followup")
# files the fast path must decline, and why
DECLINED = {
    "pydicom/MR_small_bigendian.dcm": "big endian",
    "pydicom/ExplVR_BigEnd.dcm": "big endian",
    "pydicom/image_dfl.dcm": "deflated",
    "pydicom/no_meta.dcm": "no preamble",
    "pydicom/ExplVR_LitEndNoMeta.dcm": "no preamble",
    "pydicom/MR_truncated.dcm": "truncated",
}


# --------------------------------------------------------------------------- comparing datasets


def differences(a: Any, b: Any, path: str = "ds") -> Iterator[str]:
    """Where `a` (fast) and `b` (pydicom) differ: class, attributes in order, elements, values."""
    if type(a) is not type(b):
        yield f"{path}: {type(a).__name__} != {type(b).__name__}"
        return
    if isinstance(a, io.BytesIO | DicomBytesIO):  # the buffer read from
        if a.getvalue() != b.getvalue() or a.tell() != b.tell():
            yield f"{path}: buffer content or position differs ({a.tell()} != {b.tell()})"
        return
    if isinstance(a, Dataset):
        va, vb = vars(a), vars(b)
        if list(va) != list(vb):
            yield f"{path}: attributes {list(va)} != {list(vb)}"
            return
        for name in va:
            if name != "_dict":
                yield from differences(va[name], vb[name], f"{path}.{name}")
                continue
            keys_a, keys_b = list(a._dict), list(b._dict)
            if keys_a != keys_b or [type(k) for k in keys_a] != [type(k) for k in keys_b]:
                yield f"{path}: element tags (or their order) differ"
                return
            for tag in keys_a:
                yield from differences(a._dict[tag], b._dict[tag], f"{path}[{tag}]")
        return
    if isinstance(a, Sequence):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items != {len(b)}"
            return
        yield from differences(vars(a), vars(b), f"{path}.attrs")
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
        return
    if isinstance(a, DataElement):
        yield from differences(vars(a), vars(b), path)
        return
    if isinstance(a, dict):
        if list(a) != list(b):
            yield f"{path}: keys {list(a)} != {list(b)}"
            return
        for k in a:
            yield from differences(a[k], b[k], f"{path}.{k}")
        return
    if isinstance(a, tuple | list):  # RawDataElement included: every field, with its type
        if len(a) != len(b):
            yield f"{path}: length {len(a)} != {len(b)}"
            return
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
        return
    if a != b:
        yield f"{path}: {a!r:.80} != {b!r:.80}"


def deidentified(ds: Dataset) -> tuple[str, bytes | str]:
    """What a fresh de-identifier writes for `ds` (or the error it raises)."""
    try:
        return "ok", dataset_to_bytes(Deidentifier("teaching", secret=SECRET).deidentify(ds).dataset)
    except Exception as exc:  # noqa: BLE001 - the same error is expected from both datasets
        return "error", f"{type(exc).__name__}: {exc}"


def read_both(data: bytes) -> tuple[Any, Any, list[str], list[str]]:
    """(fast dataset or None when declined, pydicom's dataset or its error, warnings of each)."""
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        try:
            fast = read_part10(data)
        except NotFast:
            fast = None
    with warnings.catch_warnings(record=True) as ref_warnings:
        warnings.simplefilter("always")
        try:
            ref = pydicom.dcmread(io.BytesIO(data), force=False)
        except Exception as exc:  # noqa: BLE001
            ref = exc
    return fast, ref, [str(w.message) for w in fast_warnings], [str(w.message) for w in ref_warnings]


def _raw_sequence(tag: int, elem: Any) -> bool:
    if not isinstance(elem, RawDataElement):
        return False
    if elem.VR is None:
        try:
            return not (tag >> 16) & 1 and dictionary_VR(tag) == "SQ"
        except KeyError:
            return False
    return elem.VR == "SQ"


def read_sequences(ds: Dataset, *, fast: bool, errors: list[str]) -> int:
    """Read every sequence pydicom kept as raw bytes, top-down at every level, as validation and
    de-identification do: by :func:`read_sequence_element` (``fast``) or by ``ds[tag]``.  Errors
    go to `errors`; returns how many the fast reader read."""
    count = 0
    for tag in list(ds._dict):
        elem = ds._dict[tag]
        if _raw_sequence(tag, elem):
            try:
                if fast:
                    try:
                        elem = read_sequence_element(ds, tag)
                        count += 1
                    except NotFast:
                        elem = ds[tag]
                else:
                    elem = ds[tag]
            except Exception as exc:  # noqa: BLE001 - the same error is expected from both readers
                errors.append(f"{tag}: {type(exc).__name__}: {exc}")
                continue
        if isinstance(elem, DataElement) and elem.VR == "SQ":
            for item in elem.value or ():
                count += read_sequences(item, fast=fast, errors=errors)
    return count


def assert_same_as_pydicom(data: bytes, name: str, *, deid: bool = True) -> bool:
    """Fast reader declines, or equals pydicom; returns True if it read the file.

    Equal as read, and equal again once every sequence kept raw has been read
    (:func:`caselib.dicom.fastread.read_sequence_element` against ``ds[tag]``).
    """
    fast, ref, fast_warnings, ref_warnings = read_both(data)
    if fast is None:
        return False
    assert not isinstance(ref, Exception), f"{name}: fast reader read a file pydicom refuses ({ref!r})"
    found = list(differences(fast, ref))
    assert not found, f"{name}: " + "; ".join(found[:5])
    assert fast_warnings == ref_warnings, name
    assert fast.original_encoding == ref.original_encoding, name
    assert fast.original_character_set == ref.original_character_set, name
    fast_errors: list[str] = []
    ref_errors: list[str] = []
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        SEQUENCES_READ_FAST[0] += read_sequences(fast, fast=True, errors=fast_errors)
    with warnings.catch_warnings(record=True) as ref_warnings:
        warnings.simplefilter("always")
        read_sequences(ref, fast=False, errors=ref_errors)
    assert fast_errors == ref_errors, name
    assert [str(w.message) for w in fast_warnings] == [str(w.message) for w in ref_warnings], name
    found = list(differences(fast, ref))
    assert not found, f"{name}, sequences read: " + "; ".join(found[:5])
    if deid:
        assert deidentified(fast) == deidentified(ref), f"{name}: de-identified outputs differ"
    return True


SEQUENCES_READ_FAST = [0]  # raw sequences read by read_sequence_element in this test session


# --------------------------------------------------------------------------- the data manifest


def _manifest_members(name: str) -> Iterator[tuple[str, bytes]]:
    for entry in MANIFEST.datasets[name].files:
        path = fetch(entry.key)
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if not member.endswith("/"):
                        yield f"{entry.key}::{member}", zf.read(member)
        else:
            yield entry.key, path.read_bytes()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(MANIFEST.datasets))
def test_every_manifest_file_reads_as_pydicom_reads_it(name: str) -> None:
    fast, declined = [], []
    for key, data in _manifest_members(name):
        (fast if assert_same_as_pydicom(data, key) else declined).append(key)
    if name in ORDINARY:
        assert not declined, f"ordinary {name} files left to pydicom: {declined}"
    assert fast, f"the fast reader read none of {name}"


@pytest.mark.parametrize("key", sorted(DECLINED))
def test_the_files_the_fast_reader_declines(key: str) -> None:
    with pytest.raises(NotFast):
        read_part10(fetch(key).read_bytes())


# --------------------------------------------------------------------------- the benchmark corpus


@pytest.fixture(scope="module")
def bench_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    spec = importlib.util.spec_from_file_location(
        "caselib_bench_deid", Path(__file__).resolve().parent.parent / "bench" / "deid.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.modules.pop(spec.name, None)
    folder = tmp_path_factory.mktemp("bench") / "corpus"
    bench.build_corpus(folder, 60, 6, 20240315)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_the_benchmark_corpus_reads_as_pydicom_reads_it(bench_corpus: list[Path]) -> None:
    assert len(bench_corpus) == 60
    for path in bench_corpus:
        assert assert_same_as_pydicom(path.read_bytes(), path.name), f"{path.name} left to pydicom"


# --------------------------------------------------------------------------- crafted files


def _element(tag: int, vr: bytes | None, value: bytes, *, undefined: bool = False) -> bytes:
    """One little endian element; `vr` None for Implicit VR."""
    length = 0xFFFFFFFF if undefined else len(value)
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if vr is None:
        return head + struct.pack("<L", length) + value
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"OV", b"SV", b"UV"):
        return head + vr + b"\0\0" + struct.pack("<L", length) + value
    return head + vr + struct.pack("<H", length) + value


ITEM_END = b"\xfe\xff\x0d\xe0\0\0\0\0"
SEQ_END = b"\xfe\xff\xdd\xe0\0\0\0\0"


def _item(body: bytes, *, undefined: bool = True) -> bytes:
    if undefined:
        return b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + ITEM_END
    return b"\xfe\xff\x00\xe0" + struct.pack("<L", len(body)) + body


def _part10(ds: Dataset, *, implicit: bool = False) -> bytes:
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    return to_part10(ds)


def _crafted() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for implicit in (False, True):
        enc = "implicit" if implicit else "explicit"
        ds = make_ct(sop=uid(90, 1 + implicit))
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = uid(90, 9)
        inner = Dataset()
        inner.CodeValue = "113100"
        inner.CodingSchemeDesignator = "DCM"
        ref.PurposeOfReferenceCodeSequence = Sequence([inner])
        ref.PurposeOfReferenceCodeSequence.is_undefined_length = True
        ref.is_undefined_length_sequence_item = True
        ds.ReferencedImageSequence = Sequence([ref, Dataset()])  # an empty item too
        ds.ReferencedImageSequence.is_undefined_length = True
        ds.SourceImageSequence = Sequence([Dataset()])  # defined length: kept raw
        ds.add_new(0x00091010, "LO", "CASELIB TEST")
        ds.add_new(0x00091011, "SQ", Sequence([Dataset()]))  # a private sequence
        ds[0x00091011].value.is_undefined_length = True
        files[f"nested sequences, {enc}"] = _part10(ds, implicit=implicit)
    # an Explicit VR file whose private UN sequence of undefined length is Implicit VR inside
    base = to_part10(make_ct(sop=uid(91, 1), pixels=False))
    un_items = _item(_element(0x00080100, None, b"T-D1100 ") + _element(0x00080102, None, b"SRT ")) + _item(b"")
    files["UN sequence with implicit items"] = (
        base + _element(0x00290010, b"LO", b"CASELIB ") + _element(0x00291010, b"UN", un_items + SEQ_END,
                                                                    undefined=True))
    # a character set inside an item, items of defined length, an empty item of defined length
    item_cs = _element(0x00080005, b"CS", b"ISO_IR 192") + _element(0x00100010, b"PN", "Jöns^Åsa".encode() + b" ")
    files["charset in an item"] = base + _element(0x00400275, b"SQ", _item(item_cs, undefined=False)
                                                  + _item(b"", undefined=False) + SEQ_END, undefined=True)
    # sequences of defined length (pydicom keeps them raw until read): nested in both kinds of item,
    # a character set inside an item, an empty sequence, a private one; Pixel Representation above
    for implicit in (False, True):
        ds = make_ct(sop=uid(95, 1 + implicit))
        outer = Dataset()
        outer.ReferencedSOPClassUID = ds.SOPClassUID
        outer.ReferencedSOPInstanceUID = uid(95, 9)
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
        outer.PurposeOfReferenceCodeSequence = Sequence([code])  # defined length, inside a defined-length item
        concept = Dataset()
        concept.CodeValue = "121311"
        outer.ConceptNameCodeSequence = Sequence([concept])
        outer.ConceptNameCodeSequence.is_undefined_length = True
        named = Dataset()
        named.SpecificCharacterSet = "ISO_IR 192"
        named.PatientName = "Jöns^Åsa"
        named.RequestAttributesSequence = Sequence([Dataset()])  # defined length, in an undefined-length item
        named.RequestAttributesSequence[0].RequestedProcedureID = "RP-7"
        named.is_undefined_length_sequence_item = True
        ds.ReferencedImageSequence = Sequence([outer, named, Dataset()])
        ds.SourceImageSequence = Sequence([])
        ds.add_new(0x00091010, "LO", "CASELIB TEST")
        ds.add_new(0x00091011, "SQ", Sequence([Dataset()]))
        files[f"defined-length sequences, {'implicit' if implicit else 'explicit'}"] = _part10(ds, implicit=implicit)
    odd_charset = make_ct(sop=uid(92, 2))
    odd_charset.SpecificCharacterSet = "ISO_IR 999"  # unknown: pydicom warns each time it looks it up
    files["unknown character set"] = to_part10(odd_charset)
    files["trailing bytes"] = to_part10(make_ct(sop=uid(92, 1))) + b"\0\0\0"
    files["explicit item with an implicit dataset"] = base + _element(
        0x00081140, b"SQ", _item(_element(0x00081150, None, b"1.2.840.10008.5.1.4.1.1.2\0")) + SEQ_END,
        undefined=True)
    return files


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # writing the unknown character set warns
    CRAFTED = _crafted()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_files_take_the_fast_path_and_read_as_pydicom_reads_them(name: str) -> None:
    assert assert_same_as_pydicom(CRAFTED[name], name), f"{name} left to pydicom"


def test_crafted_files_have_what_they_were_made_for() -> None:
    ds = read_part10(CRAFTED["UN sequence with implicit items"])
    items = ds[0x00291010].value
    assert ds[0x00291010].VR == "SQ" and len(items) == 2
    assert items[0].original_encoding == (True, True) and items[0].CodeValue == "T-D1100"
    ds = read_part10(CRAFTED["charset in an item"])
    item = ds[0x00400275].value[0]
    assert item.original_character_set == ["UTF8"] and str(item.PatientName) == "Jöns^Åsa"
    implicit = read_part10(CRAFTED["nested sequences, implicit"])
    assert implicit.original_encoding == (True, True)
    assert isinstance(implicit._dict[0x00082112].value, bytes)  # defined length: raw, as pydicom keeps it
    assert implicit.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == "113100"
    for enc in ("explicit", "implicit"):
        ds = read_part10(CRAFTED[f"defined-length sequences, {enc}"])
        assert isinstance(ds._dict[0x00081140], RawDataElement)  # kept raw by both readers
        items = read_sequence_element(ds, shared_tag(0x00081140)).value
        assert ds._dict[0x00081140].value is items and len(items) == 3
        assert items[0].PurposeOfReferenceCodeSequence[0].CodeValue == "113100"
        assert items[0].ConceptNameCodeSequence[0].CodeValue == "121311"
        assert items[1].original_character_set == ["UTF8"] and str(items[1].PatientName) == "Jöns^Åsa"
        assert items[1].RequestAttributesSequence[0].RequestedProcedureID == "RP-7"
        assert items[0]._pixel_rep == ds.PixelRepresentation  # handed down, as ds[tag] does
        with pytest.raises(NotFast):  # empty: left to pydicom
            read_sequence_element(ds, shared_tag(0x00082112))


def test_parse_object_reads_every_raw_sequence_in_place() -> None:
    """Validation reads sequences kept raw into the dataset (de-identification reads them next),
    the fast reader's way, to the same result as pydicom's way (see the hostile inputs)."""
    def raw_sequences(ds: Dataset) -> int:
        n = 0
        for tag, elem in ds._dict.items():
            n += _raw_sequence(tag, elem)
            if isinstance(elem, DataElement) and elem.VR == "SQ":
                n += sum(raw_sequences(item) for item in elem.value)
        return n

    for enc in ("explicit", "implicit"):
        data = CRAFTED[f"defined-length sequences, {enc}"]
        assert raw_sequences(read_part10(data)) >= 2
        ds = parse_object(data, enc)
        assert raw_sequences(ds) == 0  # the empty one too (read by pydicom: nothing to read)
        assert ds.ReferencedImageSequence[1].RequestAttributesSequence[0].RequestedProcedureID == "RP-7"


# --------------------------------------------------------------------------- hostile and mutated inputs


def _cut_in(data: bytes, header: bytes, into: int) -> bytes:
    """`data` cut `into` bytes after the start of the element `header` (tag and VR bytes)."""
    i = data.find(header, 132)
    assert i > 132, header
    return data[:i + into]


def _patched_item_length(data: bytes) -> bytes:
    """The first item of (0008,1140) claims 64 bytes more than its sequence holds."""
    i = data.find(b"\x08\x00\x40\x11SQ", 132) + 12
    assert data[i:i + 4] == b"\xfe\xff\x00\xe0"
    length = struct.unpack("<L", data[i + 4:i + 8])[0]
    return data[:i + 4] + struct.pack("<L", length + 64) + data[i + 8:]


def _hostile() -> dict[str, bytes]:
    control = to_part10(make_ct(sop=uid(93, 1)))
    absurd = make_ct(sop=uid(93, 4))
    absurd.Rows = absurd.Columns = 65535
    absurd.NumberOfFrames = 100000
    absurd.PixelData = bytes(64)
    return {
        "control": control,
        "truncated mid pixel data": truncate(control, "mid-pixels"),
        "truncated mid header": truncate(control, "mid-header"),
        "random bytes": random.Random(7).randbytes(4096),
        "text": b"Ward round notes: nothing to see here.\n",
        "empty": b"",
        "no pixel data": to_part10(make_ct(sop=uid(93, 3), pixels=False)),
        "absurd dimensions": to_part10(absurd),
        "US of 3 bytes": with_raw_element_patched(control, (0x0028, 0x0010), b"US", b"\x10\x00\x00"),
        "DS of abc": with_raw_element_patched(control, (0x0028, 0x1052), b"DS", b"abc "),
        "DICM without meta": b"\0" * 128 + b"DICM" + control[132 + 200:],
        "meta only": control[:control.find(b"\x08\x00", 140)],
        "sequences of defined length": CRAFTED["defined-length sequences, explicit"],
        "sequences of defined length, implicit": CRAFTED["defined-length sequences, implicit"],
        "sequence of defined length cut short": _cut_in(CRAFTED["defined-length sequences, explicit"],
                                                        b"\x08\x00\x40\x11SQ", 40),
        "item longer than its sequence": _patched_item_length(CRAFTED["defined-length sequences, explicit"]),
    }


HOSTILE = _hostile()


def _parse_outcome(data: bytes, *, fast: bool) -> tuple[str, Any]:
    """parse_object's dataset or error message, with or without the fast reader."""
    original = validate_module.read_part10, validate_module.read_sequence_element
    if not fast:
        def declined(*args: Any) -> Any:
            raise NotFast("test: pydicom only")
        validate_module.read_part10 = validate_module.read_sequence_element = declined
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", parse_object(data, "input.dcm")
    except InvalidObjectError as exc:
        return "rejected", str(exc)
    finally:
        validate_module.read_part10, validate_module.read_sequence_element = original


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_parse_object_gives_what_pydicom_alone_gives(name: str) -> None:
    data = HOSTILE[name]
    (fast_kind, fast_result), (ref_kind, ref_result) = _parse_outcome(data, fast=True), _parse_outcome(data, fast=False)
    assert fast_kind == ref_kind, (fast_result, ref_result)
    if fast_kind == "rejected":
        assert fast_result == ref_result
    else:
        assert not list(differences(fast_result, ref_result))


def test_hostile_inputs_are_still_rejected_with_their_reasons() -> None:
    expected = {
        "truncated mid header": r"truncated inside \(0008,0018\)|broken one",
        "random bytes": r"found 4096 bytes that are not DICOM",
        "empty": r"found 0 bytes of padding",
        "US of 3 bytes": r"malformed element \(0028,0010\)",
        "DS of abc": r"malformed element \(0028,1052\).*expected a DS number, found 'abc'",
    }
    for name, reason in expected.items():
        with pytest.raises(InvalidObjectError, match=reason), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parse_object(HOSTILE[name], name)


def test_mutated_files_are_declined_or_read_as_pydicom_reads_them() -> None:
    """Seeded random damage (cuts, changed bytes) to files with sequences, implicit VR and JPEG data."""
    rng = random.Random(20241205)
    sources = [CRAFTED["nested sequences, explicit"], CRAFTED["nested sequences, implicit"],
               CRAFTED["UN sequence with implicit items"], CRAFTED["defined-length sequences, explicit"],
               CRAFTED["defined-length sequences, implicit"], fetch("pydicom/JPEG2000.dcm").read_bytes(),
               fetch("pydicom/rtplan.dcm").read_bytes()]
    read = 0
    for i in range(600):
        data = bytearray(rng.choice(sources))
        if i % 3 == 0:
            data = data[:rng.randrange(132, len(data))]
        else:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(132, min(len(data), 3000))] = rng.randrange(256)
        read += assert_same_as_pydicom(bytes(data), f"mutation {i}", deid=False)
    assert 100 < read < 600  # both paths exercised


# --------------------------------------------------------------------------- parse_object's choice


class _Spy:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return pydicom.dcmread(*args, **kwargs)


def test_parse_object_takes_the_fast_path_for_ordinary_files(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy()
    monkeypatch.setattr(validate_module, "dcmread", spy)
    for name in ORDINARY:
        for entry in MANIFEST.datasets[name].files[:3]:
            parse_object(fetch(entry.key).read_bytes(), entry.key)
    assert spy.calls == 0


@pytest.mark.parametrize("key", sorted(DECLINED))
def test_parse_object_falls_back_to_pydicom(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    data = fetch(key).read_bytes()
    reference = _parse_outcome(data, fast=False)
    spy = _Spy()
    monkeypatch.setattr(validate_module, "dcmread", spy)
    kind, result = _parse_outcome(data, fast=True)
    assert spy.calls >= 1
    assert kind == reference[0]
    if kind == "rejected":
        assert result == reference[1]
    else:
        assert not list(differences(result, reference[1]))


def test_check_elements_names_the_item_of_a_bad_value() -> None:
    ds = make_ct(sop=uid(94, 1))
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.add_new(0x00081160, "IS", "1")
    ds.ReferencedImageSequence = Sequence([Dataset(), item])
    ds.ReferencedImageSequence.is_undefined_length = True
    data = to_part10(ds)
    i = data.find(b"\x08\x00\x60\x11IS\x02\x001 ")
    assert i > 0
    data = data[:i + 8] + b"x " + data[i + 10:]
    where = r"malformed element \(0008,1140\)\[1\]\.\(0008,1160\) Referenced Frame Number"
    with pytest.raises(InvalidObjectError, match=where + r": expected a IS number, found 'x'"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parse_object(data, "input.dcm")
