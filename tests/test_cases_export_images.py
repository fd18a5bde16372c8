"""Exports with images: PNGs rendered at the question's window, Moodle ddmarker and embedded
@@PLUGINFILE@@ files, QTI selectPointInteraction; the structure checkers; the XLSX bank."""
from __future__ import annotations

import base64
import dataclasses
import re
import struct
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from caselib.cases import (
    CaseSchemaError,
    CircleROI,
    EllipseROI,
    Hotspot,
    LoadedImage,
    Numeric,
    QuestionImage,
    SeriesRef,
    Text,
    check_moodle_xml,
    check_qti_package,
    encode_png,
    export_bank_csv,
    export_moodle_xml,
    export_qti21,
    import_bank_csv,
    import_bank_xlsx,
    load_library,
    write_template,
)
from caselib.cases.bank_csv import COLUMNS
from caselib.cases.export import QTI_NS
from caselib.data import fetch_dataset
from caselib.dicom import read
from caselib.imaging import Window, window_to_uint8

CASES = Path(__file__).resolve().parents[1] / "cases"
Q = "{" + QTI_NS + "}"


def decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG reader for the files encode_png writes (8-bit, filter 0, one IDAT)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunks.setdefault(kind, b"")
        chunks[kind] += data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + data[pos + 8:pos + 8 + n]) & 0xFFFFFFFF == struct.unpack(
            ">I", data[pos + 8 + n:pos + 12 + n])[0]
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3}[colour]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + w * channels)
    assert (raw[:, 0] == 0).all()
    out = raw[:, 1:]
    return out.reshape(h, w, 3) if channels == 3 else out


def test_png_round_trip_grey_and_rgb():
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, (7, 11), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    assert (decode_png(encode_png(grey)) == grey).all()
    assert (decode_png(encode_png(rgb)) == rgb).all()
    with pytest.raises(TypeError, match="uint8"):
        encode_png(grey.astype(np.int16))


@pytest.fixture(scope="module")
def library_bank(tmp_path_factory):
    lib = load_library(CASES)
    questions = [dataclasses.replace(q, id=f"{c.id}.{q.id}") for c in lib.cases for q in c.questions]
    out = tmp_path_factory.mktemp("bank")
    moodle = export_moodle_xml(questions, out / "bank.xml", lang="en")
    qti = export_qti21(questions, out / "bank.zip", lang="zh")
    return lib, questions, out, moodle, qti


def test_library_exports_validate(library_bank):
    lib, questions, out, moodle, qti = library_bank
    assert check_moodle_xml(out / "bank.xml") == []
    assert check_qti_package(out / "bank.zip") == []
    # only window/level questions are left out, each with its reason
    for report in (moodle, qti):
        skipped = {qid for qid, _ in report.skipped}
        assert skipped == {q.id for q in questions if q.kind == "window"}
        assert len(report.written) + len(skipped) == len(questions)


def _lung_slice(window):
    s = read(fetch_dataset("tcia-lung-ct")).only_series()
    return window_to_uint8(s.frame(21), Window(*window))


def test_moodle_embeds_the_image_at_the_questions_window(library_bank):
    lib, questions, out, *_ = library_bank
    root = ET.parse(out / "bank.xml").getroot()
    by_name = {q.findtext("name/text"): q for q in root.findall("question")}
    fat = by_name["tcia-lung-ct-a0002.fat-hu"]
    text = fat.findtext("questiontext/text")
    (name,) = re.findall(r'src="@@PLUGINFILE@@/([^"]+)"', text)
    file = fat.find(f"questiontext/file[@name='{name}']")
    assert file.get("encoding") == "base64" and file.get("path") == "/"
    assert (decode_png(base64.b64decode(file.text)) == _lung_slice((40, 400))).all()
    # the hotspot became a drag-and-drop marker on the slice in a lung window
    marker = by_name["tcia-lung-ct-a0002.click-trachea"]
    assert marker.get("type") == "ddmarker"
    background = decode_png(base64.b64decode(marker.find("file").text))
    assert (background == _lung_slice((-600, 1500))).all()
    q = next(q for q in questions if q.id == "tcia-lung-ct-a0002.click-trachea")
    xy, r = marker.findtext("drop/coords").split(";")
    x, y = map(int, xy.split(","))
    assert (x, y) == (round(q.roi.col), round(q.roi.row))
    assert int(r) == round((q.roi.radius_mm + q.tolerance_mm) / q.pixel_spacing[0])
    # the zone's centre is on the air of the trachea (at most -900 HU)
    assert background[y, x] <= window_to_uint8(np.array([-900.0]), Window(-600, 1500))[0]


def test_qti_hotspot_is_a_select_point_interaction(library_bank):
    lib, questions, out, *_ = library_bank
    with zipfile.ZipFile(out / "bank.zip") as zf:
        item = ET.fromstring(zf.read("items/tcia-lung-ct-a0002.click-trachea.xml"))
        spi = item.find(f"{Q}itemBody/{Q}selectPointInteraction")
        obj = spi.find(f"{Q}object")
        png = zf.read("items/" + obj.get("data"))
        manifest = zf.read("imsmanifest.xml").decode()
    assert "items/images/tcia-lung-ct-a0002.click-trachea.png" in manifest
    assert (decode_png(png) == _lung_slice((-600, 1500))).all()
    rd = item.find(f"{Q}responseDeclaration")
    assert rd.get("baseType") == "point"
    entry = rd.find(f"{Q}areaMapping/{Q}areaMapEntry")
    assert entry.get("shape") == "circle" and entry.get("mappedValue") == "1"
    assert item.find(f".//{Q}mapResponsePoint") is not None


def _phantom_loader(ref, slice_index):
    img = np.full((40, 60), -1000.0)
    img[10:30, 20:45] = 40.0
    return LoadedImage(img, (0.5, 1.0), False, None)


def _hotspot(roi, spacing=(0.5, 1.0)):
    return Hotspot(id="h1", prompt=Text(zh="点击", en="Click"), series=SeriesRef(series_uid="1.2.3"),
                   slice_index=0, roi=roi, pixel_spacing=spacing, tolerance_mm=1.0,
                   image=QuestionImage(SeriesRef(series_uid="1.2.3"), 0, (40, 400)))


def test_non_square_pixels_give_an_ellipse_and_a_polygon(tmp_path):
    q = _hotspot(CircleROI(20, 30, 4.0))          # 4 mm + 1 mm on 0.5 x 1.0 mm pixels: 10 x 5 px
    rq = export_qti21([q], tmp_path / "h.zip", image_loader=_phantom_loader)
    rm = export_moodle_xml([q], tmp_path / "h.xml", image_loader=_phantom_loader)
    assert rq.written == rm.written == ["h1"]
    assert check_qti_package(tmp_path / "h.zip") == [] and check_moodle_xml(tmp_path / "h.xml") == []
    with zipfile.ZipFile(tmp_path / "h.zip") as zf:
        entry = ET.fromstring(zf.read("items/h1.xml")).find(f".//{Q}areaMapEntry")
    assert entry.get("shape") == "poly" and len(entry.get("coords").split(",")) == 48
    assert entry.get("coords").startswith("35,20,")               # the vertex at angle 0: x + rx
    drop = ET.parse(tmp_path / "h.xml").getroot().find("question/drop")
    assert drop.findtext("shape") == "polygon" and len(drop.findtext("coords").split(";")) == 24
    # every polygon vertex lies on the grown ellipse the grader uses
    for pt in drop.findtext("coords").split(";"):
        x, y = map(int, pt.split(","))
        assert abs(((y - 20) * 0.5 / 5.0) ** 2 + ((x - 30) * 1.0 / 5.0) ** 2 - 1) < 0.35


def test_an_image_that_cannot_be_loaded_skips_the_question_with_the_reason(tmp_path):
    q = _hotspot(EllipseROI(20, 30, 3.0, 2.0))
    report = export_qti21([q], tmp_path / "h.zip")   # the default loader reads manifest keys only
    assert report.written == [] and "named by UID, not by a data-manifest key" in report.skipped[0][1]
    n = Numeric(id="n1", prompt=Text(zh="测量", en="Measure"), answer=1.0,
                image=QuestionImage(SeriesRef(manifest_key="tcia-lung-ct"), 99))
    report = export_moodle_xml([n], tmp_path / "n.xml", lang="en")
    assert report.written == [] and "has slices 0..29, not 99" in report.skipped[0][1]


def test_checkers_name_what_is_wrong(library_bank, tmp_path):
    *_, out, _, _ = library_bank
    # a package whose image went missing and whose item lost its SCORE
    with zipfile.ZipFile(out / "bank.zip") as src, zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "items/images/tcia-lung-ct-a0002.click-trachea.png":
                continue
            if info.filename == "items/tcia-lung-ct-a0002.fat-hu.xml":
                data = data.replace(b'identifier="SCORE"', b'identifier="POINTS"')
            dst.writestr(info, data)
    problems = check_qti_package(tmp_path / "bad.zip")
    assert any("lists 'items/images/tcia-lung-ct-a0002.click-trachea.png', which is not in the package" in p
               for p in problems)
    assert any("object refers to 'images/tcia-lung-ct-a0002.click-trachea.png'" in p for p in problems)
    assert any("fat-hu.xml: expected an outcomeDeclaration SCORE" in p for p in problems)
    # a Moodle file whose embedded image was removed and whose marker zone left the image
    text = (out / "bank.xml").read_text(encoding="utf-8")
    text = re.sub(r'(<questiontext format="html">\s*<text>.*?fat-hu.*?</text>)\s*<file[^>]*>[^<]*</file>', r"\1",
                  text, count=1, flags=re.S)
    bad = re.sub(r"<coords>\d+,\d+;(\d+)</coords>", r"<coords>9000,9000;\1</coords>", text, count=1)
    (tmp_path / "bad.xml").write_text(bad, encoding="utf-8")
    problems = check_moodle_xml(tmp_path / "bad.xml")
    assert any(re.search(r"drop 1 lies outside the \d+ x \d+ image", p) for p in problems)
    assert check_moodle_xml(tmp_path / "missing.xml")[0].startswith(str(tmp_path / "missing.xml"))


def test_fat_question_without_its_file_is_named(tmp_path):
    q = Numeric(id="n1", prompt=Text(zh="测量", en="Measure"), answer=-100.0, abs_tol=30,
                image=QuestionImage(SeriesRef(series_uid="1.2.3"), 0, (40, 400)))
    export_moodle_xml([q], tmp_path / "n.xml", image_loader=_phantom_loader)
    assert check_moodle_xml(tmp_path / "n.xml") == []
    text = (tmp_path / "n.xml").read_text(encoding="utf-8")
    (tmp_path / "m.xml").write_text(re.sub(r"<file [^>]*>[^<]*</file>", "", text), encoding="utf-8")
    assert any("refers to @@PLUGINFILE@@/n1.png, with no <file> of that name" in p
               for p in check_moodle_xml(tmp_path / "m.xml"))


# --------------------------------------------------------------------------- XLSX


def test_xlsx_template_and_round_trip(library_bank, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    _, questions, *_ = library_bank
    write_template(tmp_path / "template.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "template.xlsx")
    assert [c.value for c in wb.active[1]] == list(COLUMNS) and wb.active.max_row == 1
    export_bank_csv(questions, tmp_path / "bank.xlsx")
    back = import_bank_xlsx(tmp_path / "bank.xlsx")
    assert back == questions                                  # images, hotspots and all
    export_bank_csv(questions, tmp_path / "bank.csv")
    assert import_bank_csv(tmp_path / "bank.csv") == questions


def test_xlsx_typed_by_a_teacher(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "type", "prompt_zh", "prompt_en", "answer", "abs_tol", "unit", "image_series",
               "image_slice_index", "image_window"])
    ws.append(["q1", "numeric", "脂肪CT值", "Fat HU", -100, 30.0, "HU", "tcia-lung-ct", 21, "40,400"])
    ws.append(["q2", "true_false", "对吗", "True?", "对"])
    ws.append([None])
    ws.append(["q3", "numeric", "直径", "Diameter", "twelve"])
    wb.save(tmp_path / "teacher.xlsx")
    with pytest.raises(CaseSchemaError, match=r"teacher\.xlsx: row 5: answer: expected a number"):
        import_bank_csv(tmp_path / "teacher.xlsx")
    ws.delete_rows(5)
    wb.save(tmp_path / "teacher.xlsx")
    q1, q2 = import_bank_csv(tmp_path / "teacher.xlsx")
    assert q1.answer == -100.0 and q1.abs_tol == 30.0 and q2.answer is True
    assert q1.image == QuestionImage(SeriesRef(manifest_key="tcia-lung-ct"), 21, (40.0, 400.0))
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"broken\.xlsx: not a readable \.xlsx workbook"):
        import_bank_csv(tmp_path / "broken.xlsx")
