"""Character sets: every pydicom charset file de-identified without mangling any text.

For each of the 17 ``pydicom/charset`` files a Chinese name is planted wherever the
file's character set can encode it (GB18030, ISO_IR 192, the ISO 2022 Japanese and
Korean sets), together with the file's own patient name, in free text that is kept
after cleaning.  After de-identification the output must read back without a single
warning, keep every retained text value equal to the decoded original, keep its
Specific Character Set at every level, and hold neither name in any encoding.
"""
from __future__ import annotations

import io
import warnings

import pydicom
import pytest
from deid_canary import find_in_bytes, iter_elements, to_bytes
from pydicom.charset import convert_encodings, decode_bytes, encode_string

from caselib.data import fetch, load_manifest
from caselib.deid import Deidentifier, verify

CHARSET_KEYS = [f.key for f in load_manifest().datasets["pydicom/charset"].files]
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "DA", "DT", "TM", "AS", "DS", "IS", "UI"}
SECRET = b"charset-test-secret-0123456789abcd"


def test_all_seventeen_charset_files_are_covered():
    assert len(CHARSET_KEYS) == 17


def _encodable(value: str, charset) -> bool:
    encodings = convert_encodings(charset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            encoded = encode_string(value, encodings)
            return decode_bytes(encoded, encodings, set()) == value
        except (UserWarning, UnicodeError, LookupError):
            return False


def _name_tokens(pn: str) -> list[str]:
    tokens = []
    for group in pn.split("="):
        for part in group.split("^"):
            part = part.strip()
            if len(part) >= 3 or (len(part) >= 2 and not part.isascii()):
                tokens.append(part)
    return tokens


def _plant(path) -> tuple[pydicom.Dataset, list[str]]:
    ds = pydicom.dcmread(path)
    charset = ds.get("SpecificCharacterSet") or "ISO_IR 6"
    planted: list[str] = []
    names = [str(e.value) for _, e in iter_elements(ds) if e.VR == "PN" and e.keyword == "PatientName" and e.value]
    for name in names:
        planted += _name_tokens(name)
    texts = list(planted)
    cjk = next((n for n in ("王^小东", "王^小東") if _encodable(f"Wang^XiaoDong={n}", charset)), None)
    if cjk:
        ds.OtherPatientNames = f"Wang^XiaoDong={cjk}"
        family, given = cjk.split("^")
        planted += [family + given, given, "XiaoDong"]
        texts.append(family + given)
    ds.StudyDescription = "Follow-up " + " ".join(t for t in texts if _encodable(t, charset))
    ds.ImageComments = "Seen with " + " / ".join(t for t in texts if _encodable(t, charset))
    return pydicom.dcmread(io.BytesIO(to_bytes(ds))), sorted(set(planted))


@pytest.fixture(scope="module")
def deidentifier() -> Deidentifier:
    return Deidentifier("teaching", secret=SECRET)


@pytest.mark.parametrize("key", CHARSET_KEYS, ids=[k.rsplit("/", 1)[1] for k in CHARSET_KEYS])
def test_charset_file_deidentified_without_mangling(key, deidentifier):
    original, planted = _plant(fetch(key))
    assert planted, "every file plants at least one name"
    result = deidentifier.deidentify(original)
    data = result.to_bytes()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = pydicom.dcmread(io.BytesIO(data))
        out_elements = {path: elem.value for path, elem in iter_elements(output)}
    assert [str(w.message) for w in caught] == []

    # Specific Character Set unchanged at every level where it is given
    orig_charsets = {p: v for p, e in iter_elements(original) if e.keyword == "SpecificCharacterSet"
                     for v in [e.value]}
    for path, value in orig_charsets.items():
        assert out_elements.get(path) == value, path

    # every text value kept by the profile equals the decoded original
    changed = {r.path for r in result.actions_log}
    kept = 0
    for path, elem in iter_elements(original):
        if elem.tag.group == 0x0002:
            continue  # File Meta is replaced as a whole (PS3.15 E.1.1 item 7)
        if elem.VR in TEXT_VRS and path in out_elements and path not in changed and elem.VR != "UI":
            assert out_elements[path] == elem.value, path
            kept += 1
    assert kept >= 3

    # the planted names are gone from every byte, in every encoding
    assert find_in_bytes(data, planted) == []
    if "StudyDescription" in out_elements:
        assert "***" in out_elements["StudyDescription"] or out_elements["StudyDescription"] == ""
    assert verify(original, data).ok
