"""caselib.ui.viewer without a browser: what the widget sends, keeps back and measures."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from caselib.cases.marks import load_marks
from caselib.data import fetch, fetch_dataset
from caselib.dicom import read
from caselib.dicom.pixels import read_stored_frames
from caselib.i18n import t
from caselib.imaging import Window, apply_rescale, distance_mm, ellipse_mask, roi_stats
from caselib.ui import Annotation, Viewer, annotations_from_findings, link_viewers, side_by_side
from caselib.ui._source import orientation_labels

SECRET = "teacher-only-answer-91c"


@pytest.fixture(scope="module")
def ct():
    return read(fetch_dataset("tcia-lung-ct")).only_series()


def _capture(viewer):
    sent = []
    viewer.send = lambda content, buffers=None: sent.append((content, buffers))
    return sent


def test_meta_of_a_real_ct(ct):
    v = Viewer(ct, lang="en")
    m = v.meta
    assert (m["n_slices"], m["rows"], m["cols"]) == (30, 512, 512)
    assert m["orientation"] == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert m["initial_window"] == [40.0, 350.0]           # the stored (0028,1050)/(0028,1051)
    assert v.window == Window(40, 350) and v.slice_index == 15
    assert m["unit"] == "HU" and m["series_uid"] == ct.uid
    lung = next(p for p in m["presets"] if p["name"] == "lung")
    assert (lung["center"], lung["width"]) == (-600.0, 1500.0) and "radiopaedia" in lung["source"].lower()


def test_slices_are_sent_raw_on_request_only(ct):
    v = Viewer(ct)
    sent = _capture(v)
    assert sent == []                                      # nothing pushed up front
    v._on_custom(v, {"type": "get", "indices": [3, 4, 99, -1]}, [])
    assert [c["index"] for c, _ in sent] == [3, 4]         # out of range ignored
    header, buffers = sent[0]
    stored = read_stored_frames(ct.frames[3].instance, [ct.frames[3].index])[0]
    raw = np.frombuffer(buffers[0], dtype=header["dtype"]).reshape(header["rows"], header["cols"])
    assert np.array_equal(raw, stored) and header["dtype"] in ("u2", "i2")
    assert (header["min"], header["max"]) == (int(stored.min()), int(stored.max()))
    hu = apply_rescale(raw, header["slope"], header["intercept"])
    assert np.array_equal(hu, ct.frame(3))
    v._on_custom(v, {"type": "get", "indices": list(range(30))}, [])
    assert len(sent) == 2 + 16                              # at most 16 per request


def test_numpy_arrays_and_errors():
    a = np.arange(2 * 4 * 5, dtype=np.int16).reshape(2, 4, 5)
    v = Viewer(a, pixel_spacing=(0.5, 0.25), rescale=(2.0, -10.0), modality="CT")
    assert v.meta["n_slices"] == 2 and v.meta["pixel_spacing"] == [0.5, 0.25]
    sent = _capture(v)
    v.send_slice(1)
    assert sent[0][0]["slope"] == 2.0 and sent[0][0]["intercept"] == -10.0
    flat = Viewer(np.zeros((8, 9), dtype=np.float64))
    assert flat.meta["n_slices"] == 1
    sent = _capture(flat)
    flat.send_slice(0)
    assert sent[0][0]["dtype"] == "f4"
    rgb = Viewer(np.zeros((10, 12, 3), dtype=np.uint8))
    assert rgb.meta["is_color"] and rgb.meta["presets"] == []
    with pytest.raises(ValueError, match=r"shape \(slices, rows, cols\).*got shape \(2, 3, 4, 5\)"):
        Viewer(np.zeros((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="Series or a numpy array, got str"):
        Viewer("ct.dcm")
    with pytest.raises(TypeError, match="either window= or preset="):
        Viewer(a, window=(0, 10), preset="lung")


def test_marks_are_measured_with_the_core(ct):
    v = Viewer(ct)
    calls = []
    v.observe_marks(calls.append)
    v.marks_data = [
        {"kind": "ellipse", "slice_index": 15, "row": 250.0, "col": 200.0, "radius_row": 8, "radius_col": 12},
        {"kind": "line", "slice_index": 15, "row": 10, "col": 10, "end_row": 40, "end_col": 50},
        {"kind": "point", "slice_index": 15, "row": 300.2, "col": 199.6},
        {"kind": "bogus", "slice_index": 15, "row": 1, "col": 1},       # dropped
    ]
    marks = v.marks
    assert [m.kind for m in marks] == ["ellipse", "line", "point"]
    assert len(calls) == 1 and calls[0] == marks
    frame = ct.frame(15)
    stats = roi_stats(frame, ellipse_mask(frame.shape, (250, 200), (8, 12)), ct.pixel_spacing)
    e = marks[0].measurements
    assert (e["mean"], e["sd"], e["area_mm2"]) == (stats.mean, stats.std, stats.area_mm2)
    assert marks[1].measurements["length_mm"] == distance_mm((10, 10), (40, 50), ct.pixel_spacing)
    assert marks[2].measurements["value"] == float(frame[300, 200])
    expected_mm = ct.affine @ np.array([199.6, 300.2, 15, 1.0])
    assert np.allclose(marks[2].patient_mm, expected_mm[:3])
    assert all(m.series_uid == ct.uid for m in marks)


def test_save_marks_and_clear(ct, tmp_path):
    v = Viewer(ct)
    v.marks_data = [{"kind": "point", "slice_index": 2, "row": 5, "col": 6}]
    path = v.save_marks(tmp_path / "m.json", case_id="c1", student="s1")
    assert load_marks(path) == v.marks
    v.clear_marks()
    assert v.marks == []


def test_hidden_annotations_never_in_widget_state(ct):
    v = Viewer(ct, annotations=[{"kind": "text", "row": 10, "col": 10, "text": SECRET}])
    assert SECRET not in json.dumps(v.get_state(), default=str)
    assert v.meta["has_annotations"] is True
    v.reveal_annotations()
    assert SECRET in json.dumps(v.get_state(), default=str) and v.annotations_visible
    v.hide_annotations()
    assert SECRET not in json.dumps(v.get_state(), default=str)
    locked = Viewer(ct, annotations=[{"kind": "text", "row": 1, "col": 1, "text": SECRET}],
                    reveal_allowed=False)
    locked._on_custom(locked, {"type": "reveal", "show": True}, [])
    assert locked.visible_annotations == []
    v._on_custom(v, {"type": "reveal", "show": True}, [])
    assert v.visible_annotations[0]["text"] == SECRET


def test_annotation_validation_and_languages():
    with pytest.raises(ValueError, match="arrow Annotation needs end_row and end_col"):
        Annotation("arrow", 1, 2)
    with pytest.raises(ValueError, match="kind must be arrow, circle, ellipse or text, got 'box'"):
        Annotation("box", 1, 2)
    a = Annotation("circle", 5, 5, radius=3, text={"zh": "结节", "en": "nodule"})
    assert a.to_json("en")["text"] == "nodule" and a.to_json("zh-CN")["text"] == "结节"
    v = Viewer(np.zeros((4, 4), np.int16), annotations=[a], lang="zh-CN")
    assert v.labels["invert"] == t("viewer.invert", "zh-CN") == "反相"
    v.reveal_annotations()
    v.lang = "en"
    assert v.labels["invert"] == "Invert" and v.visible_annotations[0]["text"] == "nodule"
    assert not [k for k, text in v.labels.items() if text.startswith("viewer.")]


def test_annotations_from_case_findings():
    from caselib.cases import CircleROI, Finding, SeriesRef, Text
    f = Finding(SeriesRef(series_uid="1.2"), 3, CircleROI(100, 120, radius_mm=5), Text(zh="肿块", en="mass"))
    (a,) = annotations_from_findings([f], pixel_spacing=(0.5, 0.25))
    assert (a.kind, a.slice_index, a.radius_row, a.radius_col) == ("ellipse", 3, 10.0, 20.0)


def test_window_and_slice_state(ct):
    v = Viewer(ct, preset="lung")
    assert v.window == Window(-600, 1500)
    v.window = (50, 400)
    assert (v.window_center, v.window_width) == (50.0, 400.0)
    v.apply_preset("bone")
    assert v.window == Window(400, 1800)
    v.slice_index = 99                       # a linked viewer with more slices may ask for this
    assert v.displayed_slice == 29
    v.slice_index = -3
    assert v.slice_index == 0
    with pytest.raises(Exception, match="tool must be one of"):
        v.tool = "lasso"


def test_orientation_labels_other_planes():
    sagittal = np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0]])
    assert orientation_labels(sagittal) == {"left": "A", "right": "P", "top": "H", "bottom": "F"}
    coronal = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    assert orientation_labels(coronal) == {"left": "R", "right": "L", "top": "H", "bottom": "F"}
    assert orientation_labels(None) is None


def test_colour_and_monochrome1_series():
    rgb = read(fetch("pydicom/SC_rgb_rle.dcm")).only_series()
    v = Viewer(rgb)
    assert v.meta["is_color"] and v.meta["presets"] == []
    sent = _capture(v)
    v.send_slice(0)
    header, buffers = sent[0]
    assert header["channels"] == 3 and header["dtype"] == "u1"
    assert np.array_equal(np.frombuffer(buffers[0], np.uint8).reshape(rgb.rows, rgb.columns, 3),
                          rgb.display_frame(0))
    ybr = read(fetch("pydicom/SC_ybr_full_422_uncompressed.dcm")).only_series()
    assert Viewer(ybr).meta["is_color"]
    palette = read(fetch("pydicom/examples_palette.dcm")).only_series()
    v = Viewer(palette)
    sent = _capture(v)
    v.send_slice(0)
    assert sent[0][0]["channels"] == 3 and np.array_equal(
        np.frombuffer(sent[0][1][0], np.uint8).reshape(palette.rows, palette.columns, 3), palette.display_frame(0))


def test_cine_ultrasound_loop():
    us = read(fetch("pydicom/examples_ybr_color.dcm")).only_series()
    v = Viewer(us)
    assert v.meta["cine"] and v.meta["n_slices"] == 30 and v.slice_index == 0
    assert v.fps == pytest.approx(30.0, rel=1e-3)           # from (0018,1063) Frame Time 33.3 ms


def test_link_viewers_and_side_by_side(ct):
    a, b = Viewer(ct), Viewer(ct)
    link = link_viewers(a, b, scroll=True, window=False)
    assert link.active
    link.unlink()
    assert not link.active
    box = side_by_side([a, b], scroll=True, window=True, titles=["prior", "current"])
    assert len(box.viewer_links) == 1 and len(box.children) == 2
    with pytest.raises(TypeError, match="links two Viewers"):
        link_viewers(a, object())
    with pytest.raises(ValueError, match="needs scroll=True and/or window=True"):
        link_viewers(a, b, scroll=False, window=False)


def test_from_archive_opens_an_ingested_series(tmp_path, ct):
    from caselib.ingest import ingest

    src = tmp_path / "src"
    src.mkdir()
    for f in ct.frames[:3]:
        shutil.copy(f.instance.path, src / f.instance.path.name)
    archive = tmp_path / "archive"
    ingest(src, archive, workers=1, progress=False)
    (series_dir,) = [p for p in (archive / "objects").glob("*/*") if p.is_dir()]
    v = Viewer.from_archive(archive, series_dir.name)
    assert v.n_slices == 3 and v.meta["series_uid"] == series_dir.name != ct.uid
    assert np.array_equal(v.source.modality_slice(1), ct.frame(1))     # lossless
    with pytest.raises(FileNotFoundError, match="no series '1.2.3' in the archive; it has 1 series"):
        Viewer.from_archive(archive, "1.2.3")
    with pytest.raises(FileNotFoundError, match="not a caselib archive"):
        Viewer.from_archive(tmp_path / "nowhere", "1.2.3")


def test_viewer_records_usage_events(monkeypatch, tmp_path):
    """Opening a series, revealing findings and saving marks reach the usage log (and nothing when off)."""
    from caselib.usage import read_events

    log = tmp_path / "usage.jsonl"
    monkeypatch.setenv("CASELIB_USAGE_LOG", str(log))
    v = Viewer(np.zeros((3, 8, 8), np.int16), pixel_spacing=(1.0, 1.0), case_id="case-x",
               annotations=[{"kind": "text", "slice_index": 1, "row": 2, "col": 2, "text": "x"}])
    v.reveal_annotations()
    v.save_marks(tmp_path / "marks.json")
    events = read_events(log)
    assert list(events["action"]) == ["open_series", "reveal_findings", "mark"]
    assert set(events["case_id"]) == {"case-x"}
    monkeypatch.setenv("CASELIB_USAGE_LOG", "off")
    Viewer(np.zeros((2, 4, 4), np.int16))
    assert len(read_events(log)) == 3
