"""The encoder's shortcut for decoded ASCII text, OB bytes and binary integers writes what pydicom writes."""
from __future__ import annotations

import pytest
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue

from caselib.deid.encode import _fallback_element, _plain_value

CASES = [
    (0x00081030, "LO", "CHEST CT"),                  # even length
    (0x00081030, "LO", "CHEST CT1"),                 # odd: padded with a space
    (0x00080005, "CS", "ISO_IR 192"),
    (0x00080005, "CS", ["ISO 2022 IR 6", "ISO 2022 IR 58"]),
    (0x00120063, "LO", ["caselib 0.1.0 teaching", "a second method"]),
    (0x00204000, "LT", "a note with a \\ backslash"),
    (0x00081030, "LO", ""),
    (0x00020001, "OB", b"\x00\x01"),
    (0x00091010, "OB", b"\x01\x02\x03"),           # odd: padded with NUL
    (0x00020016, "AE", "CASELIB"),
    (0x00280103, "US", 1),                           # Pixel Representation, decoded when a sequence is read
    (0x00281101, "US", [4096, 0, 16]),
    (0x00281041, "SS", -1),
    (0x00020000, "UL", 196),
    (0x00189219, "SL", [-70000, 5]),
]
CHARSETS = [["iso8859"], ["utf_8"], ["gb18030"], ["iso_ir_6", "iso_ir_58"]]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("tag,vr,value", CASES)
def test_shortcut_equals_pydicom(tag, vr, value, charset, implicit):
    elem = DataElement(tag, vr, MultiValue(type(value[0]), value) if isinstance(value, list) else value)
    assert _plain_value(elem) is not None  # the shortcut is really taken
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, implicit
    write_data_element(buf, elem, charset)
    assert _fallback_element(elem, implicit, charset) == buf.getvalue()


@pytest.mark.parametrize("tag,vr,value", [(0x00081030, "LO", "胸部 CT"), (0x00100010, "PN", "Doe^Jane"),
                                          (0x00280030, "DS", ["0.5", "0.5"]), (0x00080018, "UI", "1.2.3")])
def test_other_values_are_left_to_pydicom(tag, vr, value):
    elem = DataElement(tag, vr, MultiValue(str, value) if isinstance(value, list) else value)
    assert _plain_value(elem) is None
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_data_element(buf, elem, ["utf_8"])
    assert _fallback_element(elem, False, ["utf_8"]) == buf.getvalue()
