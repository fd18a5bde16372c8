"""Pixel-PHI review: region masks, suspected text, previews, releases, reviewed decisions.

Synthetic objects are built in memory; real data (deid-data ultrasounds with fake
burned-in PHI, the NEMA US1 sample) come by manifest key through caselib.data.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_fixtures import fetch_or_skip
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, UltrasoundImageStorage, generate_uid

from caselib.archive import ArchiveLayout
from caselib.data import load_manifest
from caselib.ingest.masks import (
    MASK_METHOD,
    REPOSITORY_MASKS,
    MaskFileError,
    MaskSet,
    RegionMask,
    apply_mask,
    display_frame,
    find_text_regions,
    normalise_label,
    overlap_fraction,
)
from caselib.ingest.quarantine import Quarantine
from caselib.ingest.review import (
    MASK,
    REVIEWED_CLEAN,
    PixelDecision,
    PixelPolicy,
    list_quarantined,
    load_reviewed_decisions,
    read_review_log,
    release,
    released,
    render_preview,
    review_log_path,
)

# --------------------------------------------------------------------------- helpers

_GLYPHS = {  # 5 x 7 bitmaps
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "I": ["11111", "00100", "00100", "00100", "00100", "00100", "11111"],
    "N": ["10001", "11001", "10101", "10011", "10001", "10001", "10001"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "/": ["00001", "00010", "00010", "00100", "01000", "01000", "10000"],
    " ": ["00000"] * 7,
}


def draw_text(image: np.ndarray, text: str, row: int, col: int, scale: int = 2, value: int = 255) -> tuple[int, int, int, int]:
    """Burn ``text`` into ``image`` (in place); returns its rectangle."""
    c = col
    for ch in text:
        glyph = np.array([[int(b) for b in line] for line in _GLYPHS[ch]], dtype=bool)
        glyph = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        image[row:row + glyph.shape[0], c:c + glyph.shape[1]][glyph] = value
        c += 6 * scale
    return (row, col, row + 7 * scale, c - scale)


def us_dataset(pixels: np.ndarray, photometric: str = "MONOCHROME2", *, frames: int | None = None,
               manufacturer: str = "ACME Medical", model: str = "Sono 1", bits_stored: int | None = None) -> Dataset:
    """A small ultrasound object with pixel-PHI risk (modality US, Burned In Annotation YES)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-0042"
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", manufacturer, model
    ds.BurnedInAnnotation = "YES"
    ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8, generate_instance_uid=False)
    if frames is not None:
        ds.NumberOfFrames = frames
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def read_back(data: bytes | Dataset) -> Dataset:
    if isinstance(data, Dataset):
        data = to_bytes(data)
    return pydicom.dcmread(io.BytesIO(data))


def inside(shape: tuple[int, int], rects) -> np.ndarray:
    covered = np.zeros(shape, dtype=bool)
    for r0, c0, r1, c1 in rects:
        covered[r0:r1, c0:c1] = True
    return covered


def quarantine_object(archive: Path, ds: Dataset, label: str = "src/obj.dcm") -> tuple[str, bytes]:
    layout = ArchiveLayout.at(archive).create()
    data = to_bytes(ds)
    rec = Quarantine(layout.quarantine).add(label, "pixels may carry burned-in identifiers", "pixel-phi", data,
                                            {"risks": ["Burned In Annotation (0028,0301) is YES"]})
    return rec.id, data


def screen_with_text(rows: int = 120, columns: int = 160) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey 'ultrasound screen': a header line with text, speckle below."""
    rng = np.random.default_rng(7)
    image = np.zeros((rows, columns), np.uint8)
    image[40:, 20:140] = rng.integers(20, 120, size=(rows - 40, 120), dtype=np.uint8)
    text = draw_text(image, "PATIENT 123", 4, 4)
    return image, text


MASK_ACME = RegionMask("ACME Medical", "Sono 1", 120, 160, [(0, 0, 20, 160), (100, 120, 120, 160)],
                       name="acme-sono-1", why="header")


# --------------------------------------------------------------------------- masks: matching


def test_mask_matches_manufacturer_model_and_size_after_normalisation():
    ds = us_dataset(np.zeros((120, 160), np.uint8), manufacturer="  acme   MEDICAL ", model="SONO 1")
    assert MASK_ACME.matches(ds)
    assert normalise_label(" Philips  Medical\tSystems ") == "philips medical systems"


@pytest.mark.parametrize(("change", "message"), [
    ({"manufacturer": "ACME Medical Inc"}, "(0008,0070) Manufacturer is 'ACME Medical Inc'"),
    ({"manufacturer": "A.C.M.E. Medical"}, "(0008,0070) Manufacturer"),  # punctuation is significant
    ({"model": "Sono 2"}, "(0008,1090) Manufacturer's Model Name is 'Sono 2'"),
    ({"rows": 100}, "(0028,0010) Rows is 100, the mask is for 120"),
    ({"columns": 161}, "(0028,0011) Columns is 161, the mask is for 160"),
])
def test_mask_mismatch_names_the_attribute(change, message):
    shape = (change.get("rows", 120), change.get("columns", 160))
    ds = us_dataset(np.zeros(shape, np.uint8), manufacturer=change.get("manufacturer", "ACME Medical"),
                    model=change.get("model", "Sono 1"))
    assert not MASK_ACME.matches(ds)
    assert message in MASK_ACME.mismatch(ds)
    assert MaskSet((MASK_ACME,)).match(ds) is None


def test_mask_without_model_matches_missing_attribute():
    ds = us_dataset(np.zeros((8, 8), np.uint8))
    del ds.ManufacturerModelName
    assert RegionMask("ACME Medical", "", 8, 8, [(0, 0, 1, 8)]).matches(ds)
    assert not RegionMask("ACME Medical", "Sono 1", 8, 8, [(0, 0, 1, 8)]).matches(ds)


@pytest.mark.parametrize("rect", [(0, 0, 121, 10), (5, 5, 5, 10), (-1, 0, 4, 4), (0, 0, 4, 161), (0, 0, 1.5, 3)])
def test_mask_rectangles_must_lie_in_the_image(rect):
    with pytest.raises(ValueError, match="rectangle|four integers"):
        RegionMask("ACME", "Sono", 120, 160, [rect])


def test_mask_needs_a_rectangle_and_a_valid_name():
    with pytest.raises(ValueError, match="at least one rectangle"):
        RegionMask("ACME", "Sono", 10, 10, [])
    with pytest.raises(ValueError, match="name must be lower-case"):
        RegionMask("ACME", "Sono", 10, 10, [(0, 0, 1, 1)], name="Bad Name")
    assert RegionMask("G.E. Medical Systems", "LOGIQ 700", 480, 640, [(0, 0, 1, 1)]).name == \
        "g-e-medical-systems-logiq-700-480x640"


def test_mask_set_from_yaml_archive_file_wins_and_auto_only(tmp_path):
    repo = tmp_path / "repo.yaml"
    repo.write_text(
        "version: 1\nmasks:\n"
        "  - {name: acme, manufacturer: ACME Medical, model: Sono 1, rows: 120, columns: 160,\n"
        "     rectangles: [[0, 0, 20, 160]], why: header}\n", encoding="utf-8")
    archive = tmp_path / "archive"
    (archive / "private").mkdir(parents=True)
    (archive / "private" / "pixel_masks.yaml").write_text(
        "masks:\n"
        "  - {name: acme, manufacturer: ACME Medical, model: Sono 1, rows: 120, columns: 160,\n"
        "     rectangles: [[0, 0, 30, 160]], auto: true, why: taller header}\n", encoding="utf-8")
    ds = us_dataset(np.zeros((120, 160), np.uint8))
    only_repo = MaskSet.from_yaml(repo)
    assert only_repo.match(ds).rectangles == ((0, 0, 20, 160),)
    assert only_repo.match(ds, auto_only=True) is None
    both = MaskSet.load([repo, archive / "private" / "pixel_masks.yaml", tmp_path / "missing.yaml"])
    assert len(both) == 1 and both.get("acme").rectangles == ((0, 0, 30, 160),)
    assert both.match(ds, auto_only=True).auto
    with pytest.raises(KeyError, match="no pixel mask named 'nope' \\(known: acme\\)"):
        both.get("nope")


@pytest.mark.parametrize(("text", "message"), [
    ("masks:\n  - {name: x, manufacturer: A, model: B, rows: 4, columns: 4}\n", "missing field\\(s\\) rectangles"),
    ("masks:\n  - {name: x, manufacturer: A, model: B, rows: 4, columns: 4, rectangles: [[0, 0, 5, 4]]}\n",
     "masks\\[0\\]: mask 'x': rectangle"),
    ("masks:\n  - {name: x, manufacturer: A, model: B, rows: 4, columns: 4, rectangles: [[0,0,1,1]], colour: red}\n",
     "unknown field\\(s\\) colour"),
    ("masks: 3\n", "expected a mapping with a 'masks' list"),
])
def test_mask_file_errors_name_the_entry(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MaskFileError, match=message):
        MaskSet.from_yaml(path)


def test_repository_masks_load_and_are_not_automatic():
    masks = MaskSet.from_yaml(REPOSITORY_MASKS)
    assert {m.name for m in masks} >= {
        "philips-epiq-5g-768x1024-header", "philips-epiq-5g-600x800-header", "philips-affiniti-70g-600x800-header",
        "philips-cx50-600x800-header", "siemens-s2000-768x1024-header", "teratech-terason-672x1016-header",
        "ge-logiq-700-480x640-header"}
    for m in masks:
        assert not m.auto and m.why and m.source


# --------------------------------------------------------------------------- masks: applying


def _check_masked(before: np.ndarray, after: np.ndarray, rects, fill) -> None:
    """``after`` equals ``fill`` inside ``rects`` in every frame/sample and ``before`` elsewhere."""
    frames = before.reshape((-1,) + before.shape[-3:]) if before.ndim == 4 else \
        (before.reshape((-1,) + before.shape[-2:]) if before.ndim == 3 and np.ndim(fill) == 0 else before[None])
    out = after.reshape(frames.shape)
    covered = inside(frames.shape[1:3], rects)
    assert np.array_equal(out[:, ~covered], frames[:, ~covered])
    assert (out[:, covered] == fill).all()


def test_apply_mask_grey_blacks_out_exactly_the_rectangles_and_keeps_the_input():
    rng = np.random.default_rng(1)
    pixels = rng.integers(5, 250, size=(120, 160), dtype=np.uint8)
    ds = us_dataset(pixels)
    original = to_bytes(ds)
    out = apply_mask(ds, MASK_ACME)
    assert to_bytes(ds) == original  # input not modified
    after = read_back(out).pixel_array
    _check_masked(pixels, after, MASK_ACME.rectangles, int(pixels.min()))
    assert out.BurnedInAnnotation == "NO"
    assert out.DeidentificationMethod == MASK_METHOD
    assert out.SOPInstanceUID == ds.SOPInstanceUID
    assert ds.BurnedInAnnotation == "YES"


def test_apply_mask_rgb_multiframe_every_frame_and_sample():
    rng = np.random.default_rng(2)
    pixels = rng.integers(1, 255, size=(3, 120, 160, 3), dtype=np.uint8)
    ds = us_dataset(pixels, "RGB")
    out = read_back(apply_mask(ds, MASK_ACME))
    assert out.NumberOfFrames == 3 and out.PhotometricInterpretation == "RGB" and out.PlanarConfiguration == 0
    after = out.pixel_array
    covered = inside((120, 160), MASK_ACME.rectangles)
    assert (after[:, covered] == 0).all()
    assert np.array_equal(after[:, ~covered], pixels[:, ~covered])


def test_apply_mask_ybr_full_black_is_y0_and_neutral_chroma():
    rng = np.random.default_rng(3)
    pixels = rng.integers(1, 255, size=(2, 120, 160, 3), dtype=np.uint8)
    ds = us_dataset(pixels, "YBR_FULL")
    out = read_back(apply_mask(ds, MASK_ACME))
    assert out.PhotometricInterpretation == "YBR_FULL"
    after = pixel_array(out, raw=True)
    covered = inside((120, 160), MASK_ACME.rectangles)
    assert (after[:, covered] == [0, 128, 128]).all()
    assert np.array_equal(after[:, ~covered], pixels[:, ~covered])
    # shown as RGB, the masked area is black
    assert (pixel_array(out)[:, covered] == 0).all()


def test_apply_mask_ybr_full_422_is_expanded_exactly_to_ybr_full():
    rng = np.random.default_rng(4)
    full = rng.integers(1, 255, size=(120, 160, 3), dtype=np.uint8)
    full[:, 1::2, 1:] = full[:, 0::2, 1:]  # chroma shared by pixel pairs, as 4:2:2 stores it
    ds = us_dataset(full, "YBR_FULL_422")
    before = pixel_array(read_back(ds), raw=True)
    mask = RegionMask("ACME Medical", "Sono 1", 120, 160, [(0, 0, 20, 75)])  # odd edge: splits a pair
    out = read_back(apply_mask(ds, mask))
    assert out.PhotometricInterpretation == "YBR_FULL"
    after = pixel_array(out, raw=True)
    covered = inside((120, 160), mask.rectangles)
    assert np.array_equal(after[~covered], before[~covered])
    assert (after[covered] == [0, 128, 128]).all()


def test_apply_mask_monochrome1_16_bit_fills_with_the_largest_value():
    rng = np.random.default_rng(5)
    pixels = rng.integers(100, 4000, size=(2, 120, 160), dtype=np.uint16)
    ds = us_dataset(pixels, "MONOCHROME1", bits_stored=12)
    out = read_back(apply_mask(ds, MASK_ACME))
    assert out.BitsStored == 12 and out.BitsAllocated == 16
    _check_masked(pixels, out.pixel_array, MASK_ACME.rectangles, int(pixels.max()))


def test_apply_mask_decodes_compressed_data_and_writes_native():
    rng = np.random.default_rng(6)
    pixels = rng.integers(1, 255, size=(120, 160), dtype=np.uint8)
    ds = us_dataset(pixels)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds = read_back(ds)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    out = apply_mask(ds, MASK_ACME)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "LossyImageCompression" not in out  # RLE is lossless
    _check_masked(pixels, read_back(out).pixel_array, MASK_ACME.rectangles, int(pixels.min()))
    assert ds.file_meta.TransferSyntaxUID == RLELossless


def test_apply_mask_refuses_wrong_size_and_missing_pixels():
    ds = us_dataset(np.zeros((100, 160), np.uint8))
    with pytest.raises(ValueError, match="is for 120 x 160 images; this one is \\(0028,0010\\) Rows 100"):
        apply_mask(ds, MASK_ACME)
    ds = us_dataset(np.zeros((120, 160), np.uint8))
    del ds.PixelData
    with pytest.raises(ValueError, match="needs \\(7FE0,0010\\) Pixel Data"):
        apply_mask(ds, MASK_ACME)


def test_apply_mask_palette_colour_uses_the_darkest_palette_entry():
    ds = pydicom.dcmread(fetch_or_skip("pydicom-data/OBXXXX1A.dcm"))
    mask = MaskSet.from_yaml(REPOSITORY_MASKS).match(ds)
    assert mask is not None and mask.name == "philips-cx50-600x800-header"
    before = ds.pixel_array.copy()
    out = read_back(apply_mask(ds, mask))
    assert out.PhotometricInterpretation == "PALETTE COLOR"
    after = out.pixel_array
    covered = inside(before.shape, mask.rectangles)
    assert np.array_equal(after[~covered], before[~covered])
    shown = display_frame(out)
    assert (shown[covered] == 0).all()


# --------------------------------------------------------------------------- suspected text


def test_find_text_regions_marks_drawn_text_not_lines_or_speckle():
    rng = np.random.default_rng(9)
    image = np.zeros((160, 240), np.uint8)
    image[40:130, 20:150] = rng.integers(20, 160, size=(90, 130), dtype=np.uint8)  # 'tissue'
    header = draw_text(image, "PATIENT 123", 4, 4)
    corner = draw_text(image, "1/23", 140, 180)
    image[140, 20:150] = 255              # a scale bar
    image[40:130, 160] = 255              # a depth line
    image[60:62, 164:170] = 255           # tick marks
    image[90:92, 164:170] = 255
    regions = find_text_regions(image)
    assert any(overlap_fraction(header, [r]) > 0.8 for r in regions)
    assert any(overlap_fraction(corner, [r]) > 0.8 for r in regions)
    for r in regions:  # nothing else: every region is one of the two texts
        assert overlap_fraction(r, [header, corner]) > 0.5, r
    assert find_text_regions(np.zeros((50, 50), np.uint8)) == []


def test_find_text_regions_on_colour_and_16_bit_frames():
    image, text = screen_with_text()
    rgb = np.zeros(image.shape + (3,), np.uint8)
    rgb[..., 0] = rgb[..., 1] = image  # yellow text
    assert any(overlap_fraction(text, [r]) > 0.8 for r in find_text_regions(rgb))
    assert any(overlap_fraction(text, [r]) > 0.8 for r in find_text_regions(image.astype(np.uint16) * 16))
    with pytest.raises(ValueError, match="one frame"):
        find_text_regions(np.zeros((2, 10, 10, 3)))


@pytest.mark.parametrize("key", ["deid-data/ultrasounds/GREYSCALE_IMAGE.dcm", "deid-data/ultrasounds/RGB_IMAGE.dcm",
                                 "pydicom-data/US1_UNCI.dcm"])
def test_find_text_regions_finds_the_burned_in_phi_of_real_ultrasounds(key):
    ds = pydicom.dcmread(fetch_or_skip(key))
    mask = MaskSet.from_yaml(REPOSITORY_MASKS).match(ds)
    assert mask is not None
    regions = find_text_regions(display_frame(ds))
    in_mask = [r for r in regions if overlap_fraction(r, mask.rectangles) > 0.8]
    assert len(in_mask) >= 2  # several header text lines/words
    # together they cover most of the header text the mask was drawn for
    header_rows = {row for r in in_mask for row in range(r[0], r[2])}
    assert len(header_rows) >= 10


# --------------------------------------------------------------------------- preview


def test_render_preview_writes_a_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    image, _ = screen_with_text()
    ident, _ = quarantine_object(tmp_path, us_dataset(image))
    archive_masks = tmp_path / "private" / "pixel_masks.yaml"
    archive_masks.write_text(json.dumps({"masks": [MASK_ACME.to_dict()]}), encoding="utf-8")
    out = tmp_path / "private" / "previews" / f"{ident}.png"
    preview = render_preview(tmp_path, ident, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert preview.mask is not None and preview.mask.name == "acme-sono-1"
    assert preview.text_regions and "Burned In Annotation" in preview.reasons[0]


def test_render_preview_without_matplotlib_writes_a_plain_png(tmp_path, monkeypatch):
    image, text = screen_with_text()
    ident, _ = quarantine_object(tmp_path, us_dataset(image))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "p.png"
    preview = render_preview(tmp_path, ident, out, mask=MASK_ACME)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"tEXtTitle" in data and b"suspected text" in data
    assert any(overlap_fraction(text, [r]) > 0.8 for r in preview.text_regions)
    try:
        from PIL import Image
    except ImportError:
        return
    shown = np.asarray(Image.open(out))
    r0, c0, r1, c1 = preview.text_regions[0]
    assert tuple(shown[r0, c0 + 2]) == (255, 48, 48)  # outlined in red


# --------------------------------------------------------------------------- release


def test_release_with_a_mask_records_who_when_why_and_keeps_the_original(tmp_path):
    image, _ = screen_with_text()
    ident, data = quarantine_object(tmp_path, us_dataset(image))
    assert [r.id for r in list_quarantined(tmp_path, stage="pixel-phi", pending=True)] == [ident]
    rec = release(tmp_path, ident, reviewer="  Dr A. Reviewer ", reason="header line only", mask=MASK_ACME)
    assert rec.original == data and rec.decision.kind == MASK and rec.decision.mask == MASK_ACME
    assert rec.reviewer == "Dr A. Reviewer" and rec.uncovered_text_regions == ()
    log = read_review_log(tmp_path)
    assert len(log) == 1
    entry = log[0]
    assert entry["reviewer"] == "Dr A. Reviewer" and entry["reason"] == "header line only"
    assert entry["time"].endswith("Z") and entry["id"] == ident and entry["decision"] == "mask"
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["mask"]["rectangles"] == [[0, 0, 20, 160], [100, 120, 120, 160]]
    assert "src/obj.dcm" not in review_log_path(tmp_path).read_text()  # no labels (they may name patients)
    assert released(tmp_path, ident).decision == rec.decision
    assert Quarantine(ArchiveLayout.at(tmp_path).quarantine).original(ident) == data
    assert list_quarantined(tmp_path, pending=True) == []
    assert [r.id for r in list_quarantined(tmp_path)] == [ident]
    # the released decision is what the pipeline will apply, by content hash
    policy = PixelPolicy.for_archive(tmp_path)
    decision = policy.decide(read_back(data), hashlib.sha256(data).hexdigest())
    assert decision == rec.decision
    masked = decision.apply(read_back(data))
    assert (masked.pixel_array[:20] == image.min()).all()
    with pytest.raises(ValueError, match="already released"):
        release(tmp_path, ident, reviewer="B", reason="again", reviewed_clean=True, force=True)
    assert len(read_review_log(tmp_path)) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reviewer": "", "reason": "ok", "mask": MASK_ACME}, "needs reviewer="),
    ({"reviewer": "   ", "reason": "ok", "mask": MASK_ACME}, "needs reviewer="),
    ({"reviewer": None, "reason": "ok", "mask": MASK_ACME}, "needs reviewer="),
    ({"reviewer": "A", "reason": "", "mask": MASK_ACME}, "needs reason="),
    ({"reviewer": "A", "reason": "ok"}, "give mask="),
    ({"reviewer": "A", "reason": "ok", "mask": MASK_ACME, "reviewed_clean": True}, "not both"),
    ({"reviewer": "A", "reason": "ok", "mask": "no-such-mask"}, "no pixel mask named 'no-such-mask'"),
    ({"reviewer": "A", "reason": "ok", "mask": "auto"}, "no configured mask matches"),
])
def test_release_refuses_incomplete_requests(tmp_path, kwargs, message):
    image, _ = screen_with_text()
    ident, _ = quarantine_object(tmp_path, us_dataset(image))
    with pytest.raises(ValueError, match=message):
        release(tmp_path, ident, **kwargs)
    assert read_review_log(tmp_path) == [] and released(tmp_path, ident) is None


def test_release_refuses_objects_quarantined_for_other_reasons(tmp_path):
    layout = ArchiveLayout.at(tmp_path).create()
    rec = Quarantine(layout.quarantine).add("x.dcm", "residual PHI in PatientComments", "verify",
                                            to_bytes(us_dataset(np.zeros((8, 8), np.uint8))))
    with pytest.raises(ValueError, match="only objects quarantined for pixel PHI.*stage 'verify'"):
        release(tmp_path, rec.id, reviewer="A", reason="r", reviewed_clean=True)


def test_release_unknown_id_is_a_key_error(tmp_path):
    ArchiveLayout.at(tmp_path).create()
    with pytest.raises(KeyError, match="no quarantined object 'abc'"):
        release(tmp_path, "abc", reviewer="A", reason="r", reviewed_clean=True)


def test_reviewed_clean_is_refused_when_text_is_found_unless_forced(tmp_path):
    image, _ = screen_with_text()
    ident, _ = quarantine_object(tmp_path, us_dataset(image))
    with pytest.raises(ValueError, match="suspected text region.*force=True"):
        release(tmp_path, ident, reviewer="A", reason="looks fine", reviewed_clean=True)
    rec = release(tmp_path, ident, reviewer="A", reason="only a test pattern", reviewed_clean=True, force=True)
    assert rec.decision.kind == REVIEWED_CLEAN and rec.decision.forced and rec.text_regions
    assert read_review_log(tmp_path)[0]["forced"] is True


def test_reviewed_clean_without_text_needs_no_force(tmp_path):
    rng = np.random.default_rng(8)
    image = np.zeros((120, 160), np.uint8)
    image[20:100, 20:140] = rng.integers(20, 120, size=(80, 120), dtype=np.uint8)
    ident, data = quarantine_object(tmp_path, us_dataset(image))
    rec = release(tmp_path, ident, reviewer="A", reason="no text at all", reviewed_clean=True)
    assert not rec.decision.forced and rec.text_regions == ()
    assert rec.decision.apply(read_back(data)).BurnedInAnnotation == "YES"  # pixels and header as they are


def test_release_auto_uses_the_archive_mask(tmp_path):
    image, _ = screen_with_text()
    ident, _ = quarantine_object(tmp_path, us_dataset(image))
    (tmp_path / "private" / "pixel_masks.yaml").write_text(json.dumps({"masks": [MASK_ACME.to_dict()]}),
                                                           encoding="utf-8")
    rec = release(tmp_path, ident, reviewer="A", reason="standard ACME header", mask="auto")
    assert rec.decision.mask.name == "acme-sono-1"


# --------------------------------------------------------------------------- policy


def test_policy_uses_repository_decisions_then_auto_masks_else_quarantine(tmp_path):
    ds = us_dataset(np.zeros((120, 160), np.uint8))
    decision = PixelDecision(MASK, "R", "why", "2026-01-01", MASK_ACME, "repository")
    policy = PixelPolicy({"ab" * 32: decision}, MaskSet((MASK_ACME,)))
    assert policy.decide(ds, "ab" * 32) is decision and policy.has_decision("ab" * 32)
    assert policy.decide(ds, "cd" * 32) is None  # a known mask that is not auto is not applied unreviewed
    auto = RegionMask("ACME Medical", "Sono 1", 120, 160, [(0, 0, 20, 160)], name="acme-auto", auto=True)
    found = PixelPolicy({}, MaskSet((auto,))).decide(ds, "cd" * 32)
    assert found is not None and found.mask == auto and found.source == "configured mask"
    default = PixelPolicy.for_archive(tmp_path)
    assert default.decide(ds, "cd" * 32) is None


# --------------------------------------------------------------------------- reviewed decisions


def _decisions():
    return sorted(load_reviewed_decisions().values(), key=lambda d: (d.key, d.member or ""))


def _original_bytes(decision) -> bytes:
    path = fetch_or_skip(decision.key)
    if decision.member:
        with zipfile.ZipFile(path) as z:
            return z.read(decision.member)
    return path.read_bytes()


def test_reviewed_decisions_are_keyed_by_files_of_the_manifest():
    manifest = load_manifest()
    decisions = load_reviewed_decisions()
    assert decisions
    for sha, d in decisions.items():
        assert d.key in manifest.files, d.key
        assert d.decision.reviewer and d.decision.reason and d.decision.source == "repository"
        if d.member is None:
            assert manifest.files[d.key].sha256 == sha, d.key
        else:
            assert manifest.files[d.key].path.endswith(".zip")
            assert hashlib.sha256(_original_bytes(d)).hexdigest() == sha, (d.key, d.member)
    demo_us = {"deid-data/ultrasounds/ultrasound-multiframe.dcm", "pydicom-data/US1_UNCI.dcm"}
    assert demo_us <= {d.key for d in decisions.values()}


@pytest.mark.parametrize("decision", _decisions(), ids=lambda d: d.key + (f":{d.member}" if d.member else ""))
def test_decided_mask_removes_the_burned_in_text(decision):
    data = _original_bytes(decision)
    assert hashlib.sha256(data).hexdigest() == decision.sha256
    ds = pydicom.dcmread(io.BytesIO(data))
    from caselib.deid import pixel_phi_risk

    assert pixel_phi_risk(ds), "a decision for an object the pipeline would not quarantine"
    if decision.decision.kind != MASK:
        return
    mask = decision.decision.mask
    assert mask.matches(ds), mask.mismatch(ds)
    out = decision.decision.apply(ds)
    assert out.BurnedInAnnotation == "NO"
    n = int(ds.get("NumberOfFrames") or 1)
    found_before = 0
    for i in sorted({0, n // 2, n - 1}):
        found_before += sum(overlap_fraction(r, mask.rectangles) >= 0.25 for r in find_text_regions(display_frame(ds, i)))
        after = [r for r in find_text_regions(display_frame(out, i)) if overlap_fraction(r, mask.rectangles) >= 0.25]
        assert after == [], (i, after)
    if decision.key != "deid-data/ultrasounds/ultrasound-multiframe.dcm":  # its header band was black already
        assert found_before > 0
    # every frame is blacked out, not just those looked at
    stored = pixel_array(out, raw=True)
    covered = inside((mask.rows, mask.columns), mask.rectangles)
    frames = stored.reshape((n, mask.rows, mask.columns, -1))
    assert (frames[:, covered] == frames[0, covered][0]).all()


@pytest.mark.parametrize(("entry", "message"), [
    ({"sha256": "xyz"}, "64 hex digits"),
    ({"mask": "no-such-mask"}, "no pixel mask named 'no-such-mask'"),
    ({"reviewer": ""}, "non-empty reviewer"),
    ({"date": "yesterday"}, "ISO date"),
    ({"decision": "maybe"}, "decision must be one of"),
])
def test_reviewed_decisions_file_is_validated(tmp_path, entry, message):
    import yaml

    base = {"sha256": "ab" * 32, "key": "k", "decision": "mask", "mask": "ge-logiq-700-480x640-header",
            "reviewer": "R", "date": "2026-12-04", "reason": "why"}
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "decisions": [{**base, **entry}]}), encoding="utf-8")
    with pytest.raises(MaskFileError, match=message):
        load_reviewed_decisions(path)


# --------------------------------------------------------------------------- pipeline (once wired)


def _pipeline_wired() -> bool:
    from caselib.ingest import pipeline

    return "policy" in inspect.signature(pipeline.process_object).parameters


@pytest.mark.skipif(not _pipeline_wired(), reason="pipeline not wired to caselib.ingest.review yet")
def test_pipeline_quarantines_then_publishes_after_release(tmp_path):
    from caselib.ingest import ingest
    from caselib.ingest.review import publish_released

    image, _ = screen_with_text()
    src = tmp_path / "src"
    src.mkdir()
    (src / "us.dcm").write_bytes(to_bytes(us_dataset(image)))
    archive = tmp_path / "archive"
    report = ingest(src, archive, workers=1, compression="none", progress=False)
    assert report.quarantined == 1 and report.by_stage == {"pixel-phi": 1}
    (ident,) = [r.id for r in list_quarantined(archive, stage="pixel-phi", pending=True)]
    release(archive, ident, reviewer="A", reason="header only", mask=MASK_ACME)
    report = publish_released(archive, ident, compression="none")
    assert report.published == 1
    (stored,) = (archive / "objects").rglob("*.dcm")
    out = pydicom.dcmread(stored)
    assert out.BurnedInAnnotation == "NO" and (out.pixel_array[:20] == image.min()).all()
    assert MASK_METHOD in list(out.DeidentificationMethod)
    # the same bytes ingested again are already done
    assert ingest(src, archive, workers=1, compression="none", progress=False).quarantined == 0
