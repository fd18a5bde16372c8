"""caselib.ui.render: the static (matplotlib) picture follows caselib.imaging exactly."""
from __future__ import annotations

import numpy as np
import pytest

from caselib.data import fetch, fetch_dataset
from caselib.dicom import read
from caselib.imaging import Window, get_preset, window_to_uint8
from caselib.ui import Viewer
from caselib.ui.render import display_slice, render_slice, render_viewer


@pytest.fixture(scope="module")
def ct():
    return read(fetch_dataset("tcia-lung-ct")).only_series()


def _image_array(fig):
    (ax,) = fig.axes
    return np.asarray(ax.get_images()[0].get_array())


def test_display_slice_is_window_to_uint8(ct):
    assert np.array_equal(display_slice(ct, 7, preset="lung"),
                          window_to_uint8(ct.frame(7), get_preset("lung").window))
    # default: the stored window
    assert np.array_equal(display_slice(ct, 7), window_to_uint8(ct.frame(7), Window(40, 350)))
    assert np.array_equal(display_slice(ct, 7, window=(40, 350), invert=True),
                          window_to_uint8(ct.frame(7), Window(40, 350), invert=True))
    with pytest.raises(IndexError, match="slice index 30 out of range for 30 slices"):
        display_slice(ct, 30)


def test_monochrome1_is_shown_inverted():
    cr = read(fetch("pydicom-data/RG1_UNCI.dcm")).only_series()
    assert cr.inverted_grayscale
    pic = display_slice(cr, 0)
    assert np.array_equal(pic, cr.display_frame(0))            # the core's own display path
    assert np.array_equal(display_slice(cr, 0, invert=True),
                          window_to_uint8(cr.frame(0), cr.windows[0]))


def test_render_slice_figure(ct):
    fig = render_slice(ct, 10, window=(-600, 1500), citation="TCIA (CC BY 4.0)",
                     annotations=[{"kind": "circle", "row": 100, "col": 100, "radius": 10, "slice_index": 10,
                                   "text": {"zh": "结节", "en": "nodule"}},
                                  {"kind": "arrow", "row": 1, "col": 1, "end_row": 9, "end_col": 9,
                                   "slice_index": 11}],
                     marks=[{"kind": "ellipse", "slice_index": 10, "row": 50, "col": 60,
                             "radius_row": 5, "radius_col": 7}], lang="en")
    assert np.array_equal(_image_array(fig), window_to_uint8(ct.frame(10), Window(-600, 1500)))
    ax = fig.axes[0]
    assert len(ax.patches) == 2                       # the circle and the ellipse mark; arrow is on 11
    texts = {t.get_text() for t in ax.texts} | {t.get_text() for t in fig.texts}
    assert {"nodule", "A", "P", "R", "L", "TCIA (CC BY 4.0)"} <= texts


def test_render_viewer_keeps_hidden_annotations_hidden(ct):
    v = Viewer(ct, window=(50, 400), annotations=[{"kind": "text", "row": 5, "col": 5, "text": "answer"}])
    v.slice_index = 4
    fig = render_viewer(v)
    assert np.array_equal(_image_array(fig), window_to_uint8(ct.frame(4), Window(50, 400)))
    assert "answer" not in {t.get_text() for t in fig.axes[0].texts}
    v.reveal_annotations()
    assert "answer" in {t.get_text() for t in render_viewer(v).axes[0].texts}


def test_arrays_and_colour():
    a = np.array([[[-1000, 0], [40, 1000]]], dtype=np.int16)
    assert display_slice(a, 0, window=(40, 400)).tolist() == [[0, 102], [128, 255]]
    stored = a + 1024
    assert display_slice(stored, 0, window=(40, 400), rescale=(1, -1024)).tolist() == [[0, 102], [128, 255]]
    rgb = np.zeros((6, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    assert np.array_equal(display_slice(rgb, 0), rgb)
    assert np.array_equal(display_slice(rgb, 0, invert=True), 255 - rgb)
    fig = render_slice(rgb, 0)
    assert _image_array(fig).shape == (6, 8, 3)
