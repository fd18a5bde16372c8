"""Tests of caselib.imaging against hand-computed values.

Every expected number is worked out in a comment from the formulas of DICOM
PS3.3 C.11.2.1 (see the docstring of caselib.imaging.window).
"""
from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from caselib import imaging
from caselib.imaging import (
    PRESETS,
    RoiStats,
    VoiFunction,
    Window,
    apply_rescale,
    apply_window,
    auto_window,
    circle_mask_mm,
    distance_mm,
    distance_mm_3d,
    ellipse_area_mm2,
    ellipse_mask,
    get_preset,
    histogram_in_window,
    invert_display,
    list_presets,
    polygon_area_mm2,
    rectangle_mask,
    roi_stats,
    stored_windows,
    window_to_uint8,
)


def win64(x, *args, **kwargs):
    """apply_window in float64, for exact comparisons."""
    return apply_window(np.asarray(x, dtype=np.float64), *args, dtype=np.float64, **kwargs)


# --------------------------------------------------------------------------- Window


def test_window_stores_center_then_width_as_floats():
    w = Window(40, 400)
    assert (w.center, w.width) == (40.0, 400.0)
    assert isinstance(w.center, float) and isinstance(w.width, float)
    assert w.function is VoiFunction.LINEAR
    assert str(w) == "W:400 L:40"
    assert str(Window(-600, 1500)) == "W:1500 L:-600"
    assert str(Window(0.5, 0.25, "LINEAR_EXACT")) == "W:0.25 L:0.5 (LINEAR_EXACT)"


def test_window_is_frozen_hashable_and_ignores_explanation_in_equality():
    w = Window(40, 400, explanation="MEDIASTINUM")
    with pytest.raises(AttributeError):
        w.center = 0  # type: ignore[misc]
    assert w == Window(40.0, 400.0)
    assert len({w, Window(40, 400)}) == 1
    assert Window(40, 400) != Window(40, 400, "LINEAR_EXACT")


def test_linear_bounds():
    # lower = c - 0.5 - (w-1)/2 = 40 - 0.5 - 199.5 = -160
    # upper = c - 0.5 + (w-1)/2 = 40 - 0.5 + 199.5 = 239
    w = Window(40, 400)
    assert (w.lower, w.upper) == (-160.0, 239.0)
    # LINEAR_EXACT: c -/+ w/2 = -160, 240
    e = Window(40, 400, "LINEAR_EXACT")
    assert (e.lower, e.upper) == (-160.0, 240.0)


@pytest.mark.parametrize(
    ("lower", "upper", "function", "expected"),
    [
        # LINEAR: w = 239 - (-160) + 1 = 400, c = (-160 + 239 + 1) / 2 = 40
        (-160, 239, "LINEAR", Window(40, 400)),
        # LINEAR: w = 0 - 0 + 1 = 1, c = (0 + 0 + 1) / 2 = 0.5
        (0, 0, "LINEAR", Window(0.5, 1)),
        # LINEAR_EXACT: w = 4 - 0 = 4, c = (0 + 4) / 2 = 2
        (0, 4, "LINEAR_EXACT", Window(2, 4, "LINEAR_EXACT")),
    ],
)
def test_from_bounds(lower, upper, function, expected):
    w = Window.from_bounds(lower, upper, function)
    assert w == expected
    assert (w.lower, w.upper) == (lower, upper)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"center": 40, "width": 0.5},
            ValueError,
            r"width must be >= 1 for the LINEAR VOI LUT function \(PS3\.3 C\.11\.2\.1\.2\.1\); "
            r"found 0\.5 \(use function='LINEAR_EXACT'",
        ),
        ({"center": 40, "width": -1}, ValueError, r">= 1 for the LINEAR .*found -1\.0"),
        (
            {"center": 40, "width": 0, "function": "LINEAR_EXACT"},
            ValueError,
            r"width must be > 0 for the LINEAR_EXACT VOI LUT function \(PS3\.3 C\.11\.2\.1\.3\.2\); found 0\.0",
        ),
        (
            {"center": 40, "width": -2, "function": "SIGMOID"},
            ValueError,
            r"> 0 for the SIGMOID VOI LUT function \(PS3\.3 C\.11\.2\.1\.3\.1\); found -2\.0",
        ),
        ({"center": float("nan"), "width": 400}, ValueError, r"Window center must be a finite number; found nan"),
        ({"center": 40, "width": float("inf")}, ValueError, r"Window width must be a finite number; found inf"),
        ({"center": "40", "width": 400}, TypeError, r"Window center must be a real number; found str '40'"),
        ({"center": True, "width": 400}, TypeError, r"Window center must be a real number; found bool"),
        (
            {"center": 40, "width": 400, "function": "GAMMA"},
            ValueError,
            r"Unsupported \(0028,1056\) VOI LUT Function 'GAMMA'; expected one of 'LINEAR', 'LINEAR_EXACT', 'SIGMOID'",
        ),
    ],
)
def test_window_validation_messages(kwargs, error, match):
    with pytest.raises(error, match=match):
        Window(**kwargs)


def test_window_accepts_width_exactly_one_and_small_exact_widths():
    assert Window(10, 1).width == 1.0
    assert Window(0, 0.001, "LINEAR_EXACT").width == 0.001
    assert Window(0, 0.001, "SIGMOID").width == 0.001


def test_voi_function_from_value_is_case_and_padding_insensitive():
    assert VoiFunction.from_value(" linear_exact ") is VoiFunction.LINEAR_EXACT
    assert VoiFunction.from_value(VoiFunction.SIGMOID) is VoiFunction.SIGMOID
    with pytest.raises(TypeError, match=r"VOI LUT Function must be a string or VoiFunction; found int"):
        VoiFunction.from_value(1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- LINEAR


def test_linear_small_window_hand_computed():
    # c = 2, w = 4: lower = 2 - 0.5 - 1.5 = 0, upper = 2 - 0.5 + 1.5 = 3
    # y = (x - 1.5) / 3 + 0.5
    #   x = -1  -> below          -> 0
    #   x = 0   -> 0 <= lower     -> 0           (formula also gives -0.5 + 0.5 = 0)
    #   x = 0.5 -> -1/3 + 0.5     -> 1/6
    #   x = 1   -> -1/6 + 0.5     -> 1/3
    #   x = 1.5 -> 0 + 0.5        -> 1/2
    #   x = 2   ->  1/6 + 0.5     -> 2/3
    #   x = 3   ->  1/2 + 0.5     -> 1           (upper itself is white)
    #   x = 4   -> above          -> 1
    x = [-1, 0, 0.5, 1, 1.5, 2, 3, 4]
    expected = [0, 0, 1 / 6, 1 / 3, 1 / 2, 2 / 3, 1, 1]
    np.testing.assert_allclose(win64(x, center=2, width=4), expected, rtol=0, atol=1e-15)


def test_linear_ct_window_boundaries():
    # c = 40, w = 400:
    #   c - 0.5 - (w-1)/2 = -160 -> 0 (first condition, "<=")
    #   (0.5 = 199.5/399)
    #   -159 -> (-159 - 39.5)/399 + 0.5 = (-198.5 + 199.5)/399 = 1/399  (one step of 399)
    #   39.5 (= c - 0.5) -> 0 + 0.5 = 0.5 exactly
    #   40 -> 0.5/399 + 0.5
    #   238 -> (198.5 + 199.5)/399 = 398/399 = 1 - 1/399
    #   c - 0.5 + (w-1)/2 = 239 -> (199.5 + 199.5)/399 = 1
    #   240 -> above -> 1
    # so the 400 integers -160 .. 239 take the 400 grey levels k/399, k = 0 .. 399
    x = [-1000, -160, -159, 39.5, 40, 238, 239, 240, 3000]
    expected = [0, 0, 1 / 399, 0.5, 0.5 + 0.5 / 399, 1 - 1 / 399, 1, 1, 1]
    np.testing.assert_allclose(win64(x, center=40, width=400), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        win64(np.arange(-160, 240), center=40, width=400), np.arange(400) / 399, rtol=0, atol=1e-14
    )
    # the value just above the lower threshold is not black, just below the upper not white
    y = win64([-160 + 1e-9, 239 - 1e-9], center=40, width=400)
    assert 0 < y[0] < 1e-9 and 1 - 1e-9 < y[1] < 1


def test_linear_width_one_is_a_threshold_without_warnings():
    # c = 10, w = 1: both thresholds are c - 0.5 = 9.5;
    # x <= 9.5 -> 0, x > 9.5 -> 1; the (w-1) = 0 division branch is never used.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = win64([-5, 9, 9.5, 9.5000001, 10, 11], center=10, width=1)
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])


def test_linear_exact_hand_computed():
    # c = 2, w = 4: lower = 2 - 2 = 0, upper = 2 + 2 = 4; y = (x - 2)/4 + 0.5
    #   -1 -> 0; 0 -> 0; 1 -> 0.25; 2 -> 0.5; 3 -> 0.75; 4 -> 1; 5 -> 1
    x = [-1, 0, 1, 2, 3, 4, 5]
    y = win64(x, Window(2, 4, "LINEAR_EXACT"))
    np.testing.assert_array_equal(y, [0, 0, 0.25, 0.5, 0.75, 1, 1])
    # widths below 1 are fine: c = 0, w = 0.5, x = 0.125 -> 0.125/0.5 + 0.5 = 0.75
    assert win64([0.125], center=0, width=0.5, function="LINEAR_EXACT")[0] == 0.75


def test_sigmoid_hand_computed():
    # y = 1 / (1 + exp(-4 (x - c) / w)), c = 40, w = 400
    #   x = c         -> 1 / (1 + e^0)  = 0.5 exactly
    #   x = c + w/4   -> 1 / (1 + e^-1) = 0.7310585786300049
    #   x = c - w/2   -> 1 / (1 + e^2)  = 0.11920292202211755
    y = win64([40, 140, -160], center=40, width=400, function="SIGMOID")
    assert y[0] == 0.5
    assert y[1] == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-15)
    assert y[2] == pytest.approx(1 / (1 + math.exp(2)), abs=1e-15)
    # far below: exp overflows to inf, the result is ymin with no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert win64([-1e6], center=0, width=1, function="SIGMOID")[0] == 0.0


def test_function_argument_overrides_the_windows_function():
    w = Window(40, 400)
    assert win64([40], w, function="SIGMOID")[0] == 0.5
    # a LINEAR_EXACT window narrower than 1 is re-validated for LINEAR
    with pytest.raises(ValueError, match=r">= 1 for the LINEAR"):
        apply_window([0], Window(0, 0.5, "LINEAR_EXACT"), function="LINEAR")


# --------------------------------------------------------------------------- output


def test_invert_and_output_range():
    # c = 2, w = 4 on 0, 1, 2, 3 gives t = 0, 1/3, 2/3, 1
    # invert: 1 - t = 1, 2/3, 1/3, 0
    np.testing.assert_allclose(
        win64([0, 1, 2, 3], center=2, width=4, invert=True), [1, 2 / 3, 1 / 3, 0], atol=1e-15
    )
    # output_range (10, 20): y = 10 + 10 t = 10, 13.33.., 16.66.., 20; inverted: 30 - y
    np.testing.assert_allclose(
        win64([0, 1, 2, 3], center=2, width=4, output_range=(10, 20)),
        [10, 10 + 10 / 3, 10 + 20 / 3, 20],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        win64([0, 1, 2, 3], center=2, width=4, output_range=(10, 20), invert=True),
        [20, 10 + 20 / 3, 10 + 10 / 3, 10],
        atol=1e-12,
    )


def test_default_output_is_float32_of_same_shape():
    a = np.zeros((2, 3, 4), dtype=np.int16)
    y = apply_window(a, Window(40, 400))
    assert y.dtype == np.float32 and y.shape == (2, 3, 4)


def test_uint8_values_hand_computed():
    # c = 2, w = 4, range 0..255: 0 -> 0; 1 -> 255/3 = 85; 2 -> 170; 3 -> 255
    assert window_to_uint8([0, 1, 2, 3], center=2, width=4).tolist() == [0, 85, 170, 255]
    # c = 40, w = 400: 39 -> (-0.5/399 + 0.5) * 255 = 127.5 - 0.3195 = 127.18 -> 127
    #                  40 -> ( 0.5/399 + 0.5) * 255 = 127.5 + 0.3195 = 127.82 -> 128
    y = window_to_uint8([-1000, -160, 39, 40, 239, 3000], Window(40, 400))
    assert y.dtype == np.uint8
    assert y.tolist() == [0, 0, 127, 128, 255, 255]
    # inverted (MONOCHROME1): 255 - 127.18 = 127.82 -> 128; 255 - 127.82 = 127.18 -> 127
    assert window_to_uint8([39, 40], Window(40, 400), invert=True).tolist() == [128, 127]


def test_integer_output_rounds_half_up_like_javascript_math_round():
    # c = 2, w = 3: lower = 0, upper = 2, y = (x - 1.5)/2 + 0.5; x = 1 -> 0.25
    #   range (0, 254): 0.25 * 254 = 63.5 -> floor(64.0) = 64  (np.rint would give 64 too)
    #   range (0, 250): 0.25 * 250 = 62.5 -> floor(63.0) = 63  (np.rint would give 62)
    assert apply_window([1], center=2, width=3, output_range=(0, 254), dtype=np.uint8)[0] == 64
    assert apply_window([1], center=2, width=3, output_range=(0, 250), dtype=np.uint8)[0] == 63
    # sigmoid at the centre with 0..255: 127.5 -> 128
    assert window_to_uint8([40], center=40, width=400, function="SIGMOID")[0] == 128


def test_output_validation_messages():
    with pytest.raises(ValueError, match=r"output_range must satisfy ymin < ymax; found \(1, 0\) \(use invert=True"):
        apply_window([0], center=0, width=1, output_range=(1, 0))
    with pytest.raises(ValueError, match=r"output_range \(0, 1000\) does not fit in uint8 \[0, 255\]"):
        apply_window([0], center=0, width=1, output_range=(0, 1000), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"array contains NaN, which has no uint8 display value"):
        window_to_uint8([np.nan], center=0, width=1)
    with pytest.raises(TypeError, match=r"needs either a Window or both center= and width="):
        apply_window([0], center=40)
    with pytest.raises(TypeError, match=r"takes either a Window or center=/width=, not both"):
        apply_window([0], Window(40, 400), width=400)
    with pytest.raises(TypeError, match=r"expected a Window as its second argument; found tuple"):
        apply_window([0], (40, 400))  # type: ignore[arg-type]


def test_nan_propagates_in_float_output():
    y = win64([np.nan, 40], center=40, width=1)
    assert np.isnan(y[0]) and y[1] == 1.0
    assert np.isnan(win64([np.nan], center=40, width=400)[0])


def test_invert_display():
    # uint8: 255 - x; float: 1 - x; explicit range (0, 4095): 4095 - x
    assert invert_display(np.array([0, 100, 255], dtype=np.uint8)).tolist() == [255, 155, 0]
    assert invert_display(np.array([0.0, 0.25, 1.0])).tolist() == [1.0, 0.75, 0.0]
    out = invert_display(np.array([0, 95], dtype=np.uint16), output_range=(0, 4095))
    assert out.dtype == np.uint16 and out.tolist() == [4095, 4000]
    with pytest.raises(ValueError, match=r"cannot guess the display range of int16 values; pass output_range"):
        invert_display(np.array([1], dtype=np.int16))


def test_matches_pydicom_apply_windowing():
    """Cross-check against an independent implementation of the same standard."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset
    from pydicom.pixels.processing import apply_windowing

    x = np.arange(-20, 281, dtype=np.float64) / 2  # -10 .. 140 in steps of 0.5
    for function, center, width in [
        ("LINEAR", 40, 80),
        ("LINEAR", 40, 1),
        ("LINEAR", 40.5, 7),
        ("LINEAR_EXACT", 40, 0.5),
        ("LINEAR_EXACT", 33, 17),
        ("SIGMOID", 40, 80),
    ]:
        ds = Dataset()
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsStored = 8
        ds.PixelRepresentation = 0  # pydicom's output range is then 0 .. 255
        ds.WindowCenter = center
        ds.WindowWidth = width
        ds.VOILUTFunction = function
        expected = apply_windowing(x.copy(), ds)
        got = win64(x, center=center, width=width, function=function, output_range=(0, 255))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=function)
    assert pydicom  # used


# --------------------------------------------------------------------------- stored windows


def test_stored_windows_pairs_values_and_explanations():
    ws = stored_windows([40, -600], ["400", "1500"], ["MEDIASTINUM", "LUNG"])
    assert ws == [Window(40, 400), Window(-600, 1500)]
    assert [w.explanation for w in ws] == ["MEDIASTINUM", "LUNG"]
    assert stored_windows(40, 400) == [Window(40, 400)]
    assert stored_windows(np.array([1.0, 2.0]), (10, 20), function="SIGMOID") == [
        Window(1, 10, "SIGMOID"),
        Window(2, 20, "SIGMOID"),
    ]


def test_stored_windows_errors_and_warning():
    with pytest.raises(ValueError, match=r"Window Center has 2 values but \(0028,1051\) Window Width has 1"):
        stored_windows([40, -600], [400])
    with pytest.raises(ValueError, match=r"window 2 of 2: Window width must be >= 1"):
        stored_windows([40, 40], [400, 0])
    with pytest.raises(ValueError, match=r"\(0028,1051\) Window Width must be a decimal string; found 'wide'"):
        stored_windows("40", "wide")
    with pytest.warns(UserWarning, match=r"Explanation has 1 values for 2 windows"):
        ws = stored_windows([40, -600], [400, 1500], "MEDIASTINUM")
    assert [w.explanation for w in ws] == ["MEDIASTINUM", ""]


# --------------------------------------------------------------------------- auto window, histogram


def test_auto_window_on_known_array():
    a = np.arange(101, dtype=np.float64)  # 0, 1, ..., 100: the p-th percentile is p
    # percentiles 10, 90 -> lower 10, upper 90 -> LINEAR w = 90 - 10 + 1 = 81, c = (10 + 90 + 1)/2
    w = auto_window(a, percentiles=(10, 90))
    assert w == Window(50.5, 81)
    assert win64([10, 90], w).tolist() == [0.0, 1.0]
    # default (1, 99) -> w = 99 - 1 + 1 = 99, c = (1 + 99 + 1)/2 = 50.5
    assert auto_window(a) == Window(50.5, 99)
    # LINEAR_EXACT: w = 80, c = 50
    assert auto_window(a, (10, 90), function="LINEAR_EXACT") == Window(50, 80, "LINEAR_EXACT")


def test_auto_window_ignores_nan_and_masked_out_pixels():
    a = np.array([np.nan, -2000.0, 0.0, 100.0])
    assert auto_window(a, (0, 100), mask=a > -1000) == Window.from_bounds(0, 100)
    # constant image: width-1 window with lower == the value
    assert auto_window(np.full(4, 7.0)) == Window(7.5, 1)
    with pytest.raises(ValueError, match=r"found no finite values"):
        auto_window([np.nan])
    with pytest.raises(ValueError, match=r"0 <= low < high <= 100; found \(50, 50\)"):
        auto_window(a, (50, 50))


def test_histogram_in_window():
    # Window(2, 4): lower 0, upper 3; 3 bins [0,1) [1,2) [2,3]
    # values: -1000 below; 0 -> bin 0; 1 -> bin 1; 2, 3 -> bin 2; 1000 above; NaN ignored
    h = histogram_in_window([-1000, 0, 1, 2, 3, 1000, np.nan], Window(2, 4), bins=3)
    assert h.counts.tolist() == [1, 1, 2]
    assert h.edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert (h.below, h.above) == (1, 1)
    assert h.below + int(h.counts.sum()) + h.above == 6


# --------------------------------------------------------------------------- rescale


def test_apply_rescale():
    # 0*1 - 1024 = -1024; 1000 - 1024 = -24; 2000 - 1024 = 976
    stored = np.array([0, 1000, 2000], dtype=np.int16)
    hu = apply_rescale(stored, 1, -1024)
    assert hu.dtype == np.float32 and hu.tolist() == [-1024, -24, 976]
    # 0.5*[0, 1000, 2000] + 10 = 10, 510, 1010
    hu64 = apply_rescale(stored, slope=0.5, intercept=10, dtype=np.float64)
    assert hu64.dtype == np.float64 and hu64.tolist() == [10, 510, 1010]
    # identity still returns a float copy
    same = apply_rescale(stored)
    assert same.dtype == np.float32 and same.tolist() == [0, 1000, 2000]
    assert stored.tolist() == [0, 1000, 2000]


def test_apply_rescale_validation():
    with pytest.raises(ValueError, match=r"\(0028,1053\) Rescale Slope must not be 0"):
        apply_rescale([1], slope=0)
    with pytest.raises(ValueError, match=r"\(0028,1052\) Rescale Intercept must be a finite number; found nan"):
        apply_rescale([1], intercept=float("nan"))
    with pytest.raises(TypeError, match=r"dtype must be a floating type .*; found int32"):
        apply_rescale([1], dtype=np.int32)


# --------------------------------------------------------------------------- presets


def test_every_preset_has_source_and_both_labels():
    assert len(PRESETS) >= 10
    names = [p.name for p in PRESETS]
    assert len(set(names)) == len(names)
    for p in PRESETS:
        assert p.name == p.name.lower() and " " not in p.name
        assert isinstance(p.window, Window) and p.window.function is VoiFunction.LINEAR
        assert p.modality == "CT"
        assert p.source.strip(), p.name
        assert p.label_en.strip(), p.name
        assert any("\u4e00" <= ch <= "\u9fff" for ch in p.label_zh), p.name
        assert p.label_zh.endswith("窗") or "窗（" in p.label_zh, p.name


@pytest.mark.parametrize(
    ("name", "center", "width", "label_zh"),
    [
        ("lung", -600, 1500, "肺窗"),
        ("mediastinum", 50, 350, "纵隔窗"),
        ("soft_tissue", 50, 400, "软组织窗（腹部）"),
        ("liver", 30, 150, "肝窗"),
        ("bone", 400, 1800, "骨窗"),
        ("brain", 40, 80, "脑窗"),
        ("subdural", 75, 200, "硬膜下窗"),
        ("stroke", 40, 40, "卒中窗"),
        ("temporal_bone", 600, 2800, "颞骨窗（内耳）"),
        ("angio", 170, 600, "血管窗（CTA）"),
    ],
)
def test_required_presets(name, center, width, label_zh):
    p = get_preset(name)
    assert p.window == Window(center, width)
    assert p.label_zh == label_zh


def test_get_preset_normalises_and_lists_names_on_error():
    assert get_preset(" Temporal-Bone ") is get_preset("temporal_bone")
    with pytest.raises(KeyError, match=r"unknown window preset 'lungs' \(did you mean 'lung'\?\); available: lung, mediastinum"):
        get_preset("lungs")
    with pytest.raises(KeyError, match=r"available: .*angio"):
        get_preset("xyz")


def test_list_presets():
    assert list_presets() == list(PRESETS)
    assert list_presets("ct") == list(PRESETS)
    assert list_presets("MR") == []


# --------------------------------------------------------------------------- ROI statistics


def test_roi_stats_on_known_array():
    image = np.arange(16, dtype=np.int16).reshape(4, 4) * 10 - 50  # -50, -40, ..., 100
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True  # values 0, 10, 40, 50
    s = roi_stats(image, mask, pixel_spacing=(0.5, 2.0))
    # count 4; mean (0 + 10 + 40 + 50)/4 = 25
    # population SD: deviations -25, -15, 15, 25 -> (625 + 225 + 225 + 625)/4 = 425 -> sqrt(425)
    # median (10 + 40)/2 = 25; area 4 * 0.5 * 2.0 = 4 mm^2
    assert s == RoiStats(count=4, mean=25.0, std=math.sqrt(425), min=0.0, max=50.0, median=25.0, area_mm2=4.0)
    assert roi_stats(image, mask).area_mm2 is None


def test_roi_stats_validation():
    image = np.zeros((3, 3))
    with pytest.raises(TypeError, match=r"mask must be a boolean array; found int64 \(use mask != 0\)"):
        roi_stats(image, np.ones((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mask shape \(2, 2\) does not match image shape \(3, 3\)"):
        roi_stats(image, np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"mask selects no pixels"):
        roi_stats(image, np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"pixel_spacing must be \(row spacing, column spacing\) in mm"):
        roi_stats(image, np.ones((3, 3), dtype=bool), pixel_spacing=(0.5,))
    with pytest.raises(ValueError, match=r"area needs a 2-D image; found 3-D"):
        roi_stats(np.zeros((2, 2, 2)), np.ones((2, 2, 2), dtype=bool), pixel_spacing=(1, 1))


def test_masks():
    # radius 1 around (2, 2): the centre and its 4 neighbours at distance exactly 1
    m = ellipse_mask((5, 5), (2, 2), (1, 1))
    assert m.sum() == 5 and m[2, 2] and m[1, 2] and m[2, 3] and not m[1, 1]
    r = rectangle_mask((4, 5), (1, 2), (3, 4))  # rows 1..2, cols 2..3
    assert r.sum() == 4 and r[1:3, 2:4].all()
    # clipped at the image edge: rows 0..1 (of -1..1), cols 3..4 (of 3..9)
    assert rectangle_mask((4, 5), (-1, 3), (2, 10)).sum() == 2 * 2
    with pytest.raises(ValueError, match=r"shape must be \(rows, columns\), two positive integers; found \(0, 5\)"):
        ellipse_mask((0, 5), (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"must be \(row, col\) integer pairs"):
        rectangle_mask((4, 4), (0.5, 0), (2, 2))


def test_ellipse_area_matches_pixel_count():
    spacing = (0.7, 0.7)
    # pi * 30 * 50 * 0.49 = 2309.07 mm^2
    expected = ellipse_area_mm2((30, 50), spacing)
    assert expected == pytest.approx(math.pi * 30 * 50 * 0.49)
    mask = ellipse_mask((101, 121), (50, 60), (30, 50))
    assert roi_stats(np.zeros(mask.shape), mask, spacing).area_mm2 == pytest.approx(expected, rel=0.01)


def test_circle_mask_mm_with_anisotropic_spacing():
    # radius 10 mm at 0.5 mm/row, 0.25 mm/col -> semi-axes 20 rows, 40 columns;
    # area pi * 10^2 = 314.16 mm^2, each pixel 0.125 mm^2
    mask = circle_mask_mm((61, 101), (30, 50), 10.0, (0.5, 0.25))
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    assert (rows.min(), rows.max()) == (10, 50)  # 30 -/+ 20
    assert (cols.min(), cols.max()) == (10, 90)  # 50 -/+ 40
    assert mask.sum() * 0.125 == pytest.approx(math.pi * 100, rel=0.01)


# --------------------------------------------------------------------------- distances, areas


def test_distance_mm_uses_row_spacing_for_rows():
    # PixelSpacing = (row spacing 2.0, column spacing 0.5)
    # (0,0) -> (3,4): rows 3 * 2.0 = 6 mm, columns 4 * 0.5 = 2 mm, sqrt(36 + 4) = sqrt(40)
    assert distance_mm((0, 0), (3, 4), (2.0, 0.5)) == pytest.approx(math.sqrt(40))
    # swapping the spacing swaps the result: rows 3 * 0.5 = 1.5, cols 4 * 2 = 8 -> sqrt(66.25)
    assert distance_mm((0, 0), (3, 4), (0.5, 2.0)) == pytest.approx(math.sqrt(66.25))
    assert distance_mm((5, 5), (5, 5), (1, 1)) == 0.0
    with pytest.raises(ValueError, match=r"found \(0, 1\)"):
        distance_mm((0, 0), (1, 1), (0, 1))
    with pytest.raises(ValueError, match=r"p1_rc must be 2 finite numbers"):
        distance_mm((0, 0), (1, 1, 1), (1, 1))


def test_distance_mm_3d():
    # (1, 2, 3) -> (4, 6, 15): differences 3, 4, 12 -> sqrt(9 + 16 + 144) = 13
    assert distance_mm_3d((1, 2, 3), np.array([4.0, 6.0, 15.0])) == 13.0
    with pytest.raises(ValueError, match=r"p0 must be 3 finite numbers"):
        distance_mm_3d((1, 2), (1, 2, 3))


def test_polygon_area_mm2():
    # 10 x 10 pixel square at (0.5, 2.0): 5 mm x 20 mm = 100 mm^2 (either orientation)
    square = [(0, 0), (0, 10), (10, 10), (10, 0)]
    assert polygon_area_mm2(square, (0.5, 2.0)) == 100.0
    assert polygon_area_mm2(square[::-1], (0.5, 2.0)) == 100.0
    # right triangle with legs 4 rows and 6 columns at (1.5, 0.5): 6 mm x 3 mm / 2 = 9 mm^2
    assert polygon_area_mm2([(0, 0), (4, 0), (0, 6)], (1.5, 0.5)) == 9.0
    with pytest.raises(ValueError, match=r"at least 3 \(row, col\) points; found 2"):
        polygon_area_mm2([(0, 0), (1, 1)], (1, 1))


def test_ellipse_area_mm2():
    # pi * (10 * 0.5) * (20 * 0.25) = pi * 5 * 5 = 25 pi
    assert ellipse_area_mm2((10, 20), (0.5, 0.25)) == pytest.approx(25 * math.pi)


# --------------------------------------------------------------------------- package surface


def test_public_api_is_explicit():
    assert sorted(imaging.__all__) == sorted(set(imaging.__all__))
    for name in imaging.__all__:
        assert hasattr(imaging, name), name


def test_import_does_not_load_pydicom_pandas_or_widgets():
    code = (
        "import sys, caselib.imaging\n"
        "bad = [m for m in ('pydicom', 'pandas', 'ipywidgets', 'anywidget', 'matplotlib') "
        "if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
