"""caselib.store.codec: lossless transcoding on write, proven bit-exact, on real data.

Every case checks the stored *bytes*: they are parsed again and decoded
independently of the code under test, and compared with the original pixels.
"""
from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.uid import (
    JPEG2000,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGExtended12Bit,
    JPEGLSLossless,
    RLELossless,
)

from caselib.data import fetch, fetch_dataset
from caselib.store import (
    FALLBACK_ORDER,
    Compression,
    InvalidUIDError,
    LocalStore,
    TranscodeError,
    VerificationError,
    codec,
    compute_fingerprint,
    transcode,
)

# real files carry over-long values (e.g. SH of 64 characters); pydicom warns on access
pytestmark = pytest.mark.filterwarnings("ignore:The value length")

SYNTAX = {"jpeg-ls": JPEGLSLossless, "jpeg2000": JPEG2000Lossless, "rle": RLELossless}


def read(key: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(fetch(key))


def parse(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


def raw_pixels(ds: Dataset) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(ds, raw=True)


def assert_bit_exact(stored: Dataset, original: np.ndarray) -> None:
    back = raw_pixels(stored)
    assert back.dtype == original.dtype and back.shape == original.shape
    assert np.array_equal(back, original)


@pytest.fixture(scope="module")
def series_files():
    """Sorted file lists of the real series (whole series for the CT, six slices for the others)."""
    out = {}
    for name, n in (("tcia-lung-ct", None), ("ge-head-ct", 6), ("pediatric-brain-mr", 6), ("tcia-gbm-mr", 6)):
        files = sorted(fetch_dataset(name, progress=False).rglob("*.dcm"))
        out[name] = files if n is None else files[:: max(1, len(files) // n)][:n]
    return out


# --------------------------------------------------------------------------- real series, every option


@pytest.mark.parametrize("option", ["jpeg-ls", "jpeg2000", "rle", "none"])
@pytest.mark.parametrize("series", ["tcia-lung-ct", "ge-head-ct", "pediatric-brain-mr", "tcia-gbm-mr"])
def test_real_series_round_trip_is_bit_exact_for_every_option(series_files, series, option):
    pixel_in = pixel_out = 0
    for path in series_files[series]:
        ds = pydicom.dcmread(path)
        original = raw_pixels(ds)
        out = transcode(ds, option)
        stored = parse(out.data)
        assert_bit_exact(stored, original)
        assert out.compression == option
        expected_ts = SYNTAX.get(option, ds.file_meta.TransferSyntaxUID)
        assert stored.file_meta.TransferSyntaxUID == expected_ts == out.transfer_syntax
        assert out.verified is (option != "none")
        # header untouched: same UIDs, same pixel description, same fingerprint
        assert stored.SOPInstanceUID == ds.SOPInstanceUID
        assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for kw in ("PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                   "RescaleIntercept", "RescaleSlope", "WindowCenter"):
            assert stored.get(kw) == ds.get(kw), kw
        assert "LossyImageCompression" not in stored or stored.LossyImageCompression == ds.LossyImageCompression
        assert compute_fingerprint(stored) == compute_fingerprint(ds) == out.fingerprint
        pixel_in += len(ds.PixelData)
        pixel_out += len(stored.PixelData)
    if series == "tcia-lung-ct" and option == "jpeg-ls":
        assert pixel_in / pixel_out >= 2.5, "goal: JPEG-LS at least 2.5x on CT"


def test_12_bit_ct_keeps_bits_stored_and_compresses():
    ds = read("tcia-lung-ct/1-01.dcm")
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 12, 0)
    out = transcode(ds)  # default: JPEG-LS
    stored = parse(out.data)
    assert (stored.BitsAllocated, stored.BitsStored, stored.HighBit) == (16, 12, 11)
    assert_bit_exact(stored, raw_pixels(ds))
    assert len(out.data) * 2.5 < len(ds.PixelData)


# --------------------------------------------------------------------------- signed, 12-bit signed, dirty high bits


def _synthetic_12_bit(signed: bool, sign_extended: bool = True, dirty: bool = False) -> tuple[Dataset, np.ndarray]:
    ds = read("tcia-lung-ct/1-01.dcm")
    values = raw_pixels(ds).astype(np.int32)
    if signed:
        values = values - 1024  # -1024 .. 1173: needs the sign bit of a 12-bit sample
        ds.PixelRepresentation = 1
        words = values.astype(np.int16).view(np.uint16)
        if not sign_extended:
            words = words & np.uint16(0x0FFF)
    else:
        words = values.astype(np.uint16)
    words = words.copy()
    if dirty:
        words.flat[:100] |= np.uint16(0x4000)  # bit 14: e.g. an old embedded overlay
    ds.PixelData = words.tobytes()
    return ds, values


@pytest.mark.parametrize("option", ["jpeg-ls", "jpeg2000", "rle"])
@pytest.mark.parametrize("sign_extended", [True, False])
def test_signed_12_bit_round_trip(option, sign_extended):
    ds, values = _synthetic_12_bit(signed=True, sign_extended=sign_extended)
    original = raw_pixels(ds)
    assert original.dtype == np.int16 and original.min() == -1024 and np.array_equal(original, values)
    out = transcode(ds, option)
    assert out.compression == option
    stored = parse(out.data)
    assert stored.PixelRepresentation == 1 and stored.BitsStored == 12
    assert_bit_exact(stored, original)


def test_signed_16_bit_ct_round_trip():
    ds = read("ge-head-ct/01.dcm")
    assert ds.PixelRepresentation == 1 and ds.BitsStored == 16
    original = raw_pixels(ds)
    assert original.min() < 0
    stored = parse(transcode(ds).data)
    assert_bit_exact(stored, original)


def test_data_above_bits_stored_is_never_dropped():
    ds, _ = _synthetic_12_bit(signed=False, dirty=True)
    out = transcode(ds, "jpeg-ls")
    assert out.compression == "none"
    assert "bits above (0028,0101) Bits Stored 12 carry data in 100 of 262144 values" in out.note
    stored = parse(out.data)
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert stored.PixelData == ds.PixelData  # the high bits survive


# --------------------------------------------------------------------------- colour, multi-frame, YBR


@pytest.mark.parametrize("key, planar", [
    ("deid-data/ultrasounds/RGB_IMAGE.dcm", 0),
    ("pydicom-data/color-pl.dcm", 1),
])
@pytest.mark.parametrize("option", ["jpeg-ls", "jpeg2000", "rle"])
def test_rgb_round_trip_keeps_photometric_and_sets_planar_configuration(key, planar, option):
    ds = read(key)
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == planar
    original = raw_pixels(ds)
    out = transcode(ds, option)
    stored = parse(out.data)
    assert out.compression == option
    assert stored.PhotometricInterpretation == "RGB"  # never silently YBR_RCT
    assert stored.PlanarConfiguration == (1 if option == "rle" else 0)  # PS3.5 8.2.3, 8.2.4, G.2
    assert_bit_exact(stored, original)


def test_multiframe_rgb_ultrasound_round_trip_and_lossy_flag_kept():
    ds = read("deid-data/ultrasounds/ultrasound-multiframe.dcm")
    # it is RGB (not YBR), planar configuration 1, 30 frames, and was once lossy compressed
    assert (ds.PhotometricInterpretation, ds.PlanarConfiguration, ds.NumberOfFrames) == ("RGB", 1, 30)
    assert ds.LossyImageCompression == "01"
    original = raw_pixels(ds)
    out = transcode(ds)
    stored = parse(out.data)
    assert out.compression == "jpeg-ls"
    assert stored.NumberOfFrames == 30 and stored.PhotometricInterpretation == "RGB"
    assert stored.LossyImageCompression == "01"  # a lossless transcode never clears the history
    assert_bit_exact(stored, original)
    assert len(out.data) * 3 < len(ds.PixelData)


def test_ybr_full_422_is_upsampled_exactly_to_ybr_full():
    ds = read("pydicom/SC_ybr_full_422_uncompressed.dcm")
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    original_raw = raw_pixels(ds)  # sub-sampling removed, still YCbCr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original_rgb = ds.pixel_array
    out = transcode(ds, "jpeg-ls")
    stored = parse(out.data)
    assert stored.PhotometricInterpretation == "YBR_FULL"
    assert "YBR_FULL_422 chroma up-sampled to YBR_FULL (exact)" in out.note
    assert_bit_exact(stored, original_raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(stored.pixel_array, original_rgb)  # what a viewer shows is unchanged
    assert compute_fingerprint(stored) == compute_fingerprint(ds)


def test_palette_colour_keeps_its_lookup_tables():
    ds = read("pydicom/examples_palette.dcm")
    stored = parse(transcode(ds).data)
    assert stored.PhotometricInterpretation == "PALETTE COLOR"
    assert stored.RedPaletteColorLookupTableData == ds.RedPaletteColorLookupTableData
    assert_bit_exact(stored, raw_pixels(ds))


# --------------------------------------------------------------------------- kept as is


@pytest.mark.parametrize("key, syntax", [
    ("pydicom-data/US1_J2KI.dcm", JPEG2000),
    ("pydicom/JPEG-lossy.dcm", JPEGExtended12Bit),
])
@pytest.mark.parametrize("option", ["jpeg-ls", "jpeg2000", "rle", "none"])
def test_lossy_input_is_kept_untouched(key, syntax, option):
    ds = read(key)
    assert ds.file_meta.TransferSyntaxUID == syntax
    out = transcode(ds, option)
    stored = parse(out.data)
    assert out.compression == "as-is" and out.verified is False
    assert "never re-encoded" in out.note
    assert stored.file_meta.TransferSyntaxUID == syntax
    assert stored.PixelData == ds.PixelData  # the same codestream, byte for byte
    assert stored.PhotometricInterpretation == ds.PhotometricInterpretation
    assert stored.LossyImageCompression == ds.LossyImageCompression == "01"


def test_lossy_input_without_lossy_flag_is_reported_not_edited():
    ds = read("pydicom/JPEG-lossy.dcm")
    del ds.LossyImageCompression
    out = transcode(ds)
    assert "(0028,2110) Lossy Image Compression is missing (not changed by the store)" in out.note
    assert "LossyImageCompression" not in parse(out.data)


def test_lossless_compressed_input_is_kept_as_is():
    ds = read("pydicom/MR_small_RLE.dcm")
    out = transcode(ds, "jpeg-ls")
    stored = parse(out.data)
    assert out.compression == "as-is" and "already compressed losslessly (RLE Lossless)" in out.note
    assert stored.file_meta.TransferSyntaxUID == RLELossless and stored.PixelData == ds.PixelData
    # same content as the uncompressed original: identical fingerprint
    assert compute_fingerprint(stored) == compute_fingerprint(read("pydicom/MR_small.dcm"))


@pytest.mark.parametrize("key", ["pydicom/reportsi.dcm", "pydicom/rtplan.dcm"])
def test_objects_without_pixel_data_are_stored_as_is(key):
    ds = read(key)
    out = transcode(ds)
    stored = parse(out.data)
    assert (out.compression, out.note) == ("as-is", "no pixel data: stored as is")
    assert stored.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert stored == ds  # every data element equal
    assert stored.preamble == b"\x00" * 128


def test_float_pixel_data_is_stored_uncompressed():
    ds = read("pydicom/CT_small.dcm")
    values = raw_pixels(ds).astype(np.float32) / 7.0
    del ds.PixelData
    ds.FloatPixelData = values.tobytes()
    ds.BitsAllocated = 32
    for kw in ("BitsStored", "HighBit", "PixelRepresentation"):
        delattr(ds, kw)
    out = transcode(ds)
    stored = parse(out.data)
    assert out.compression == "none" and "float pixel data" in out.note
    assert stored.FloatPixelData == ds.FloatPixelData


def test_big_endian_input_is_kept_as_is():
    ds = read("pydicom/MR_small_bigendian.dcm")
    out = transcode(ds)
    stored = parse(out.data)
    assert out.compression == "none" and "Big Endian (retired)" in out.note
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    assert_bit_exact(stored, raw_pixels(ds))
    assert compute_fingerprint(stored) == compute_fingerprint(read("pydicom/MR_small.dcm"))


# --------------------------------------------------------------------------- fallbacks, with reasons


def test_32_bit_dose_falls_back_to_uncompressed_and_says_why():
    ds = read("pydicom/rtdose.dcm")
    assert ds.BitsAllocated == 32
    out = transcode(ds, "jpeg-ls")
    assert out.compression == "none"
    assert "jpeg-ls: (0028,0100) Bits Allocated 32 not in (8, 16)" in out.note
    assert "jpeg2000: pylibjpeg: Invalid 'bits_stored' value '32', must be in the range [1, 24]" in out.note
    assert "rle: (0028,0100) Bits Allocated 32 not in (8, 16)" in out.note
    assert out.note.endswith("stored uncompressed")
    assert_bit_exact(parse(out.data), raw_pixels(ds))


def test_tiny_odd_image_falls_back_to_rle():
    ds = read("pydicom/SC_rgb_small_odd.dcm")  # 3 x 3 RGB: too small for the JPEG-LS and JPEG 2000 encoders
    out = transcode(ds, "jpeg-ls")
    assert out.compression == "rle" and out.verified
    assert out.note.startswith("jpeg-ls: pyjpegls: Encoding error")
    assert "jpeg2000: pylibjpeg: Error encoding the data" in out.note
    assert_bit_exact(parse(out.data), raw_pixels(ds))


def test_fallback_starts_at_the_requested_option():
    ds = read("pydicom/rtdose.dcm")
    out = transcode(ds, "rle")
    assert out.note.startswith("rle: ") and "jpeg-ls" not in out.note
    assert FALLBACK_ORDER == (Compression.JPEG_LS, Compression.JPEG_2000, Compression.RLE, Compression.NONE)


def test_bit_packed_segmentation_is_stored_uncompressed():
    ds = read("pydicom-data/liver.dcm")
    out = transcode(ds)
    assert out.compression == "none" and "Bits Allocated 1" in out.note
    assert parse(out.data).PixelData == ds.PixelData


# --------------------------------------------------------------------------- verification


def test_a_mismatch_raises_and_nothing_is_written(monkeypatch, tmp_path):
    real = codec.compress

    def corrupting(ds, tsyntax, arr, **kwargs):
        arr = arr.copy()
        arr.flat[12345] ^= 1  # an encoder that is off by one bit in one pixel
        return real(ds, tsyntax, arr, **kwargs)

    monkeypatch.setattr(codec, "compress", corrupting)
    ds = read("tcia-lung-ct/1-01.dcm")
    with pytest.raises(VerificationError, match=r"jpeg-ls: 1 of 262144 decoded pixel values differ from the original; nothing was written"):
        transcode(ds)
    store = LocalStore(tmp_path)
    with pytest.raises(VerificationError):
        store.put(ds)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_undecodable_pixel_data_raises_unless_none_is_requested():
    ds = read("tcia-lung-ct/1-01.dcm")
    ds.PixelData = ds.PixelData[:1000]  # truncated
    with pytest.raises(TranscodeError, match=r"\(7FE0,0010\) Pixel Data cannot be decoded .* use compression='none'"):
        transcode(ds)
    assert transcode(ds, "none").compression == "none"


def test_input_dataset_is_not_modified():
    ds = read("pydicom-data/color-pl.dcm")
    before = copy.deepcopy(ds)
    transcode(ds, "jpeg-ls")
    transcode(ds, "rle")
    assert ds == before and ds.file_meta == before.file_meta
    assert ds.PlanarConfiguration == 1 and ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_file_meta_is_rebuilt_and_preamble_zeroed():
    ds = read("tcia-lung-ct/1-01.dcm")
    ds.preamble = b"II*\x00" + b"secret" + b"\x00" * 118
    ds.file_meta.SourceApplicationEntityTitle = "ST_MARYS_CT1"
    stored = parse(transcode(ds).data)
    assert stored.preamble == b"\x00" * 128
    assert "SourceApplicationEntityTitle" not in stored.file_meta
    assert stored.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID


def test_dataset_without_file_meta_is_handled():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(fetch("pydicom-data/OT-PAL-8-face.dcm"), force=True)
    assert "TransferSyntaxUID" not in getattr(ds, "file_meta", FileMetaDataset())
    out = transcode(ds)
    assert out.compression == "jpeg-ls"
    assert_bit_exact(parse(out.data), raw_pixels(parse(transcode(ds, "none").data)))


def test_missing_sop_class_uid_is_a_clear_error():
    ds = read("pydicom/rtplan.dcm")
    del ds.SOPClassUID
    with pytest.raises(InvalidUIDError, match=r"\(0008,0016\) SOP Class UID is missing"):
        transcode(ds)


# --------------------------------------------------------------------------- options and fingerprints


def test_compression_names():
    assert Compression.parse("JPEG-LS") is Compression.JPEG_LS
    assert Compression.parse("j2k") is Compression.JPEG_2000
    assert Compression.parse(Compression.RLE) is Compression.RLE
    with pytest.raises(ValueError, match=r"compression must be one of 'jpeg-ls', 'jpeg2000', 'rle', 'none', found 'lzw'"):
        Compression.parse("lzw")


def test_fingerprint_sees_pixels_and_header_but_not_encoding():
    ds = read("tcia-lung-ct/1-01.dcm")
    base = compute_fingerprint(ds)
    assert compute_fingerprint(parse(transcode(ds, "jpeg2000").data)) == base
    assert compute_fingerprint(parse(transcode(ds, "rle").data)) == base
    one_pixel = read("tcia-lung-ct/1-01.dcm")
    arr = raw_pixels(one_pixel).copy()
    arr[100, 100] += 1
    one_pixel.PixelData = arr.tobytes()
    assert compute_fingerprint(one_pixel) != base
    header = read("tcia-lung-ct/1-01.dcm")
    header.SeriesDescription = "changed"
    assert compute_fingerprint(header) != base
