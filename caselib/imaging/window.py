"""VOI windowing: modality values (HU for CT) to display values.

This module implements the three VOI LUT functions of DICOM PS3.3 C.11.2.1
exactly, so that lessons and the browser viewer can be checked against it.
With ``x`` the input (modality) value, ``c`` the Window Center, ``w`` the
Window Width and ``[ymin, ymax]`` the output range:

LINEAR (C.11.2.1.2.1; the default when (0028,1056) VOI LUT Function is absent;
``w >= 1``)::

    if   x <= c - 0.5 - (w - 1) / 2:  y = ymin
    elif x >  c - 0.5 + (w - 1) / 2:  y = ymax
    else: y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin

LINEAR_EXACT (C.11.2.1.3.2; ``w > 0``)::

    if   x <= c - w / 2:  y = ymin
    elif x >  c + w / 2:  y = ymax
    else: y = ((x - c) / w + 0.5) * (ymax - ymin) + ymin

SIGMOID (C.11.2.1.3.1; ``w > 0``)::

    y = (ymax - ymin) / (1 + exp(-4 * (x - c) / w)) + ymin

Reproducing the results elsewhere (the JavaScript viewer)
---------------------------------------------------------
All arithmetic is done in IEEE float64, in the order written above, which is
also how JavaScript numbers behave.  Then, in this order:

1. LINEAR and LINEAR_EXACT results are clipped to ``[ymin, ymax]`` (this only
   removes float rounding residue; mathematically they are already inside).
2. If ``invert`` is set (MONOCHROME1 display): ``y = ymin + ymax - y``.
3. For an integer output type: ``y = floor(y + 0.5)``, which is JavaScript's
   ``Math.round`` (round half up), *not* NumPy's round-half-to-even.

For LINEAR with ``w == 1`` the third branch can never be reached (the two
thresholds coincide), so no division by ``w - 1 == 0`` happens; a JavaScript
port must test the two thresholds first, as written.  For example::

    function voiLinear(x, c, w, ymin, ymax) {
      if (x <= c - 0.5 - (w - 1) / 2) return ymin;
      if (x > c - 0.5 + (w - 1) / 2) return ymax;
      const y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin;
      return Math.min(ymax, Math.max(ymin, y));
    }
    // 8-bit display value (invert for MONOCHROME1 before rounding):
    // Math.floor(voiLinear(hu, c, w, 0, 255) + 0.5)
"""
from __future__ import annotations

import enum
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from caselib.imaging._checks import finite_number

__all__ = [
    "VoiFunction",
    "Window",
    "WindowHistogram",
    "apply_window",
    "window_to_uint8",
    "invert_display",
    "stored_windows",
    "auto_window",
    "histogram_in_window",
]


class VoiFunction(enum.StrEnum):
    """The Defined Terms of (0028,1056) VOI LUT Function (PS3.3 C.11.2.1.3).

    Examples
    --------
    >>> VoiFunction.from_value("sigmoid")
    <VoiFunction.SIGMOID: 'SIGMOID'>
    >>> VoiFunction.LINEAR == "LINEAR"
    True
    >>> VoiFunction.from_value("GAMMA")
    Traceback (most recent call last):
    ...
    ValueError: Unsupported (0028,1056) VOI LUT Function 'GAMMA'; expected one of 'LINEAR', 'LINEAR_EXACT', 'SIGMOID'
    """

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"

    @classmethod
    def from_value(cls, value: VoiFunction | str) -> VoiFunction:
        """Convert a VOI LUT Function string (case and padding ignored) to the Enum.

        Raises
        ------
        ValueError
            If `value` is not one of the three Defined Terms.
        TypeError
            If `value` is not a string.
        """
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(
                "(0028,1056) VOI LUT Function must be a string or VoiFunction; "
                f"found {type(value).__name__} {value!r}"
            )
        try:
            return cls(value.strip().upper())
        except ValueError:
            expected = ", ".join(repr(m.value) for m in cls)
            raise ValueError(
                f"Unsupported (0028,1056) VOI LUT Function {value!r}; expected one of {expected}"
            ) from None


@dataclass(frozen=True, init=False, repr=False)
class Window:
    """A VOI window in DICOM order: ``Window(center, width)``.

    Radiologists say "W/L" (width first); DICOM and caselib store
    (0028,1050) Window Center first, then (0028,1051) Window Width.  A window is
    validated when it is built (PS3.3 C.11.2.1.2 and C.11.2.1.3): width
    ``>= 1`` for LINEAR, ``> 0`` for LINEAR_EXACT and SIGMOID.

    Parameters
    ----------
    center, width : float
        Window Center and Window Width in modality units (HU for CT).
    function : VoiFunction or str, optional
        The VOI LUT Function the window is meant for (default ``"LINEAR"``).
    explanation : str, optional
        (0028,1055) Window Center & Width Explanation; not used in comparisons.

    Attributes
    ----------
    lower, upper : float
        The thresholds of the standard's piecewise formula: values ``<= lower``
        display as ``ymin`` (black) and values ``> upper`` as ``ymax`` (white).
        For LINEAR ``lower = c - w/2`` and ``upper = c + w/2 - 1``, so with
        integer data exactly ``w`` values, ``lower .. upper``, span black to
        white (``upper`` itself is white when ``w > 1``).  For LINEAR_EXACT
        they are ``c -/+ w/2``.  SIGMOID has no hard bounds; ``c -/+ w/2`` are
        returned, where the curve is at about 11.9 % and 88.1 %.

    Examples
    --------
    >>> w = Window(40, 400)
    >>> w
    Window(center=40.0, width=400.0)
    >>> print(w)
    W:400 L:40
    >>> w.lower, w.upper
    (-160.0, 239.0)
    >>> Window.from_bounds(-160, 239) == w
    True
    >>> Window(2, 4, function="LINEAR_EXACT").upper
    4.0
    >>> Window(40, 0.5)
    Traceback (most recent call last):
    ...
    ValueError: Window width must be >= 1 for the LINEAR VOI LUT function (PS3.3 C.11.2.1.2.1); found 0.5 (use function='LINEAR_EXACT' for narrower windows)
    >>> Window(40, 0, function="SIGMOID")
    Traceback (most recent call last):
    ...
    ValueError: Window width must be > 0 for the SIGMOID VOI LUT function (PS3.3 C.11.2.1.3.1); found 0.0
    """

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR
    explanation: str = field(default="", compare=False)

    def __init__(
        self,
        center: float,
        width: float,
        function: VoiFunction | str = VoiFunction.LINEAR,
        explanation: str = "",
    ) -> None:
        c = finite_number(center, "Window center")
        w = finite_number(width, "Window width")
        func = VoiFunction.from_value(function)
        if func is VoiFunction.LINEAR:
            if w < 1:
                raise ValueError(
                    "Window width must be >= 1 for the LINEAR VOI LUT function "
                    f"(PS3.3 C.11.2.1.2.1); found {w!r} "
                    "(use function='LINEAR_EXACT' for narrower windows)"
                )
        elif w <= 0:
            section = "C.11.2.1.3.2" if func is VoiFunction.LINEAR_EXACT else "C.11.2.1.3.1"
            raise ValueError(
                f"Window width must be > 0 for the {func.value} VOI LUT function "
                f"(PS3.3 {section}); found {w!r}"
            )
        if not isinstance(explanation, str):
            raise TypeError(
                f"Window explanation must be a str; found {type(explanation).__name__}"
            )
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "width", w)
        object.__setattr__(self, "function", func)
        object.__setattr__(self, "explanation", explanation)

    @classmethod
    def from_bounds(
        cls,
        lower: float,
        upper: float,
        function: VoiFunction | str = VoiFunction.LINEAR,
        explanation: str = "",
    ) -> Window:
        """Build the window whose :attr:`lower` and :attr:`upper` are the given values.

        The inverse of ``(w.lower, w.upper)``: for LINEAR ``width = upper - lower + 1``
        and ``center = (lower + upper + 1) / 2``; for LINEAR_EXACT and SIGMOID
        ``width = upper - lower`` and ``center = (lower + upper) / 2``.

        Examples
        --------
        >>> Window.from_bounds(0, 3)            # 4 integer values 0..3
        Window(center=2.0, width=4.0)
        >>> Window.from_bounds(0, 0)            # LINEAR allows width 1
        Window(center=0.5, width=1.0)
        >>> Window.from_bounds(0, 0.5, function="LINEAR_EXACT")
        Window(center=0.25, width=0.5, function='LINEAR_EXACT')
        >>> Window.from_bounds(10, 0)
        Traceback (most recent call last):
        ...
        ValueError: Window bounds must satisfy lower <= upper; found lower=10.0, upper=0.0
        """
        lo = finite_number(lower, "Window lower bound")
        hi = finite_number(upper, "Window upper bound")
        if lo > hi:
            raise ValueError(
                f"Window bounds must satisfy lower <= upper; found lower={lo!r}, upper={hi!r}"
            )
        func = VoiFunction.from_value(function)
        if func is VoiFunction.LINEAR:
            return cls((lo + hi + 1) / 2, hi - lo + 1, func, explanation)
        return cls((lo + hi) / 2, hi - lo, func, explanation)

    @property
    def lower(self) -> float:
        """Values at or below this display as the bottom of the output range."""
        if self.function is VoiFunction.LINEAR:
            return self.center - 0.5 - (self.width - 1) / 2
        return self.center - self.width / 2

    @property
    def upper(self) -> float:
        """Values above this display as the top of the output range."""
        if self.function is VoiFunction.LINEAR:
            return self.center - 0.5 + (self.width - 1) / 2
        return self.center + self.width / 2

    def __str__(self) -> str:
        text = f"W:{self.width:g} L:{self.center:g}"
        if self.function is not VoiFunction.LINEAR:
            text += f" ({self.function.value})"
        return text

    def __repr__(self) -> str:
        text = f"Window(center={self.center!r}, width={self.width!r}"
        if self.function is not VoiFunction.LINEAR:
            text += f", function={self.function.value!r}"
        if self.explanation:
            text += f", explanation={self.explanation!r}"
        return text + ")"


def _resolve_window(
    window: Window | None,
    center: float | None,
    width: float | None,
    function: VoiFunction | str | None,
    caller: str,
) -> Window:
    """One Window from either a Window or plain center/width, `function` overriding."""
    if window is not None:
        if center is not None or width is not None:
            raise TypeError(f"{caller}() takes either a Window or center=/width=, not both")
        if not isinstance(window, Window):
            raise TypeError(
                f"{caller}() expected a Window as its second argument; found "
                f"{type(window).__name__} (pass plain numbers as center=..., width=...)"
            )
        if function is None or VoiFunction.from_value(function) is window.function:
            return window
        return Window(window.center, window.width, function, window.explanation)
    if center is None or width is None:
        raise TypeError(f"{caller}() needs either a Window or both center= and width=")
    return Window(center, width, VoiFunction.LINEAR if function is None else function)


def _check_output_range(output_range: tuple[float, float]) -> tuple[float, float]:
    try:
        ymin, ymax = output_range
    except (TypeError, ValueError):
        raise ValueError(
            f"output_range must be a pair (ymin, ymax); found {output_range!r}"
        ) from None
    lo = finite_number(ymin, "output_range minimum")
    hi = finite_number(ymax, "output_range maximum")
    if not lo < hi:
        raise ValueError(
            f"output_range must satisfy ymin < ymax; found {output_range!r} "
            "(use invert=True to flip the grey scale)"
        )
    return lo, hi


def apply_window(
    array: ArrayLike,
    window: Window | None = None,
    *,
    center: float | None = None,
    width: float | None = None,
    function: VoiFunction | str | None = None,
    output_range: tuple[float, float] = (0.0, 1.0),
    invert: bool = False,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Apply a VOI window (PS3.3 C.11.2.1.2.1, C.11.2.1.3.1, C.11.2.1.3.2).

    The exact formulas, and how to reproduce the results bit for bit in
    JavaScript, are in the docstring of :mod:`caselib.imaging.window`.

    Parameters
    ----------
    array : array_like
        Modality values (after :func:`apply_rescale`; HU for CT), any shape.
    window : Window, optional
        The window; or give `center` and `width` as plain numbers instead.
    center, width : float, optional
        Window Center and Window Width, for sliders and stored values.
    function : VoiFunction or str, optional
        VOI LUT Function; default the window's own (``"LINEAR"`` for plain
        numbers).  Given together with a `window`, it overrides the window's
        function and the width is re-validated for it.
    output_range : (float, float), optional
        ``(ymin, ymax)``, default ``(0.0, 1.0)``; ``ymin < ymax``.
    invert : bool, optional
        Flip the grey scale, ``y -> ymin + ymax - y`` (MONOCHROME1 display).
    dtype : data-type, optional
        Output type, default ``float32``.  For an integer type the values are
        rounded half up (``floor(y + 0.5)``, like JavaScript ``Math.round``)
        and `output_range` must fit in the type.

    Returns
    -------
    numpy.ndarray
        Same shape as `array`.  NaN inputs give NaN (integer types: an error).

    Raises
    ------
    TypeError
        If neither or both of `window` and `center`/`width` are given.
    ValueError
        If the window, function or output range is invalid.

    Examples
    --------
    With ``c = 2, w = 4`` the four integers 0..3 span black to white:

    >>> import numpy as np
    >>> apply_window(np.array([-1, 0, 1, 2, 3, 4]), center=2, width=4, dtype=np.float64).round(4)
    array([0.    , 0.    , 0.3333, 0.6667, 1.    , 1.    ])
    >>> apply_window([0, 2, 4], Window(2, 4, "LINEAR_EXACT"), dtype=np.float64)
    array([0. , 0.5, 1. ])
    >>> apply_window([40], center=40, width=400, function="SIGMOID", dtype=np.float64)
    array([0.5])
    >>> apply_window([9, 9.5, 10], center=10, width=1)   # width 1: a threshold at c - 0.5
    array([0., 0., 1.], dtype=float32)
    >>> apply_window([0, 3], center=2, width=4, invert=True)
    array([1., 0.], dtype=float32)
    >>> apply_window([0, 1, 3], center=2, width=4, output_range=(0, 255), dtype=np.uint8)
    array([  0,  85, 255], dtype=uint8)
    >>> apply_window([0], Window(40, 400), center=40)
    Traceback (most recent call last):
    ...
    TypeError: apply_window() takes either a Window or center=/width=, not both
    """
    win = _resolve_window(window, center, width, function, "apply_window")
    ymin, ymax = _check_output_range(output_range)
    out_dtype = np.dtype(dtype)
    is_int = np.issubdtype(out_dtype, np.integer)
    if is_int:
        info = np.iinfo(out_dtype)
        if ymin < info.min or ymax > info.max:
            raise ValueError(
                f"output_range {output_range!r} does not fit in {out_dtype.name} "
                f"[{info.min}, {info.max}]"
            )
    elif not np.issubdtype(out_dtype, np.floating):
        raise TypeError(f"dtype must be a floating or integer type; found {out_dtype}")

    x = np.asarray(array, dtype=np.float64)
    c, w = win.center, win.width
    span = ymax - ymin
    if win.function is VoiFunction.SIGMOID:
        with np.errstate(over="ignore"):  # exp overflow -> inf -> ymin, as intended
            y = span / (1 + np.exp(-4 * (x - c) / w)) + ymin
    else:
        if win.function is VoiFunction.LINEAR:
            below, above = x <= c - 0.5 - (w - 1) / 2, x > c - 0.5 + (w - 1) / 2
            if w == 1:  # the thresholds coincide: a step, no division by w - 1 == 0
                y = np.where(above, ymax, ymin)
            else:
                y = ((x - (c - 0.5)) / (w - 1) + 0.5) * span + ymin
        else:  # LINEAR_EXACT
            below, above = x <= c - w / 2, x > c + w / 2
            y = ((x - c) / w + 0.5) * span + ymin
        y = np.where(below, ymin, np.where(above, ymax, y))
        y = np.where(np.isnan(x), np.nan, y)
        y = np.clip(y, ymin, ymax)
    if invert:
        y = (ymin + ymax) - y
    if is_int:
        if np.isnan(y).any():
            raise ValueError(
                f"array contains NaN, which has no {out_dtype.name} display value; "
                "replace it first (e.g. np.nan_to_num) or use a floating dtype"
            )
        y = np.floor(y + 0.5)
    return np.asarray(y, dtype=out_dtype)


def window_to_uint8(
    array: ArrayLike,
    window: Window | None = None,
    *,
    center: float | None = None,
    width: float | None = None,
    function: VoiFunction | str | None = None,
    invert: bool = False,
) -> NDArray[np.uint8]:
    """8-bit display values: :func:`apply_window` with output range 0..255.

    Equivalent to ``apply_window(array, window, output_range=(0, 255),
    dtype=np.uint8, ...)``: the float64 result is rounded half up,
    ``floor(y + 0.5)`` (JavaScript ``Math.round``).

    Examples
    --------
    >>> window_to_uint8([-1000, -160, 39, 40, 239], center=40, width=400)
    array([  0,   0, 127, 128, 255], dtype=uint8)
    >>> window_to_uint8([-1000, 239], Window(40, 400), invert=True)   # MONOCHROME1
    array([255,   0], dtype=uint8)
    """
    result: NDArray[np.uint8] = apply_window(
        array,
        window,
        center=center,
        width=width,
        function=function,
        output_range=(0, 255),
        invert=invert,
        dtype=np.uint8,
    )
    return result


def invert_display(
    display: ArrayLike, *, output_range: tuple[float, float] | None = None
) -> NDArray[Any]:
    """Flip display values within their range: ``ymin + ymax - x``.

    For MONOCHROME1 images (PS3.3 C.7.6.3.1.2: the minimum value is white),
    after windowing.  Prefer ``apply_window(..., invert=True)``, which flips
    before rounding; this helper is for values already displayed.

    Parameters
    ----------
    display : array_like
        Display values.
    output_range : (float, float), optional
        The display range; default ``(0, 1)`` for floating arrays and
        ``(0, 255)`` for uint8.  Required for other types.

    Examples
    --------
    >>> import numpy as np
    >>> invert_display(np.array([0, 100, 255], dtype=np.uint8))
    array([255, 155,   0], dtype=uint8)
    >>> invert_display(np.array([0.0, 0.25]))
    array([1.  , 0.75])
    >>> invert_display(np.array([0, 4095], dtype=np.uint16), output_range=(0, 4095))
    array([4095,    0], dtype=uint16)
    """
    a = np.asarray(display)
    if output_range is None:
        if np.issubdtype(a.dtype, np.floating):
            output_range = (0.0, 1.0)
        elif a.dtype == np.uint8:
            output_range = (0, 255)
        else:
            raise ValueError(
                f"invert_display() cannot guess the display range of {a.dtype} values; "
                "pass output_range=(ymin, ymax)"
            )
    ymin, ymax = output_range
    total = ymin + ymax
    if np.issubdtype(a.dtype, np.integer):
        total = int(total)
    return np.asarray(total - a, dtype=a.dtype)


def _as_values(value: Any) -> list[Any]:
    """A DICOM value of VM 1-n (scalar, string or sequence) as a list."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        return [value]
    return list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)


def _to_float(value: Any, what: str) -> float:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{what} must be a decimal string; found {value!r}") from None
    return finite_number(value, what)


def stored_windows(
    center_values: Any,
    width_values: Any,
    explanations: Any = None,
    *,
    function: VoiFunction | str = VoiFunction.LINEAR,
) -> list[Window]:
    """Windows from the raw values of (0028,1050) Window Center and (0028,1051) Window Width.

    Both attributes are VM 1-n and pair up by position (PS3.3 C.11.2.1.2); the
    (0028,1056) VOI LUT Function applies to all of them.

    Parameters
    ----------
    center_values, width_values : number, str or sequence of them
        The values as read (a pydicom ``MultiValue`` or ``DSfloat`` works).
    explanations : str or sequence of str, optional
        (0028,1055) Window Center & Width Explanation.  If their number
        differs from the number of windows a warning is issued and missing
        ones are left empty.
    function : VoiFunction or str, optional
        (0028,1056) VOI LUT Function; default ``"LINEAR"``.

    Returns
    -------
    list of Window

    Raises
    ------
    ValueError
        If the counts of centers and widths differ, or a window is invalid
        (the message says which one).

    Examples
    --------
    >>> stored_windows(40, 400)
    [Window(center=40.0, width=400.0)]
    >>> stored_windows([40, -600], ["400", "1500"], ["MEDIASTINUM", "LUNG"])
    [Window(center=40.0, width=400.0, explanation='MEDIASTINUM'), Window(center=-600.0, width=1500.0, explanation='LUNG')]
    >>> stored_windows([40, -600], [400])
    Traceback (most recent call last):
    ...
    ValueError: (0028,1050) Window Center has 2 values but (0028,1051) Window Width has 1; they must pair up
    >>> stored_windows(40, 0)
    Traceback (most recent call last):
    ...
    ValueError: window 1 of 1: Window width must be >= 1 for the LINEAR VOI LUT function (PS3.3 C.11.2.1.2.1); found 0.0 (use function='LINEAR_EXACT' for narrower windows)
    """
    centers = _as_values(center_values)
    widths = _as_values(width_values)
    if len(centers) != len(widths):
        raise ValueError(
            f"(0028,1050) Window Center has {len(centers)} values but (0028,1051) "
            f"Window Width has {len(widths)}; they must pair up"
        )
    texts: list[Any] = [] if explanations is None else _as_values(explanations)
    if explanations is not None and len(texts) != len(centers):
        warnings.warn(
            f"(0028,1055) Window Center & Width Explanation has {len(texts)} values "
            f"for {len(centers)} windows; unmatched explanations are left empty",
            stacklevel=2,
        )
    func = VoiFunction.from_value(function)
    result = []
    n = len(centers)
    for i, (c, w) in enumerate(zip(centers, widths, strict=True)):
        text = str(texts[i]).strip() if i < len(texts) and texts[i] is not None else ""
        try:
            result.append(
                Window(
                    _to_float(c, "(0028,1050) Window Center"),
                    _to_float(w, "(0028,1051) Window Width"),
                    func,
                    text,
                )
            )
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"window {i + 1} of {n}: {exc}") from None
    return result


def _finite_values(array: ArrayLike, mask: ArrayLike | None, caller: str) -> NDArray[np.float64]:
    a = np.asarray(array, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(
                f"{caller}() mask must be a boolean array; found {m.dtype} "
                "(use mask != 0)"
            )
        if m.shape != a.shape:
            raise ValueError(
                f"{caller}() mask shape {m.shape} does not match array shape {a.shape}"
            )
        a = a[m]
    values = a[np.isfinite(a)]
    if values.size == 0:
        raise ValueError(f"{caller}() found no finite values to work on")
    return values


def auto_window(
    array: ArrayLike,
    percentiles: tuple[float, float] = (1, 99),
    *,
    function: VoiFunction | str = VoiFunction.LINEAR,
    mask: ArrayLike | None = None,
) -> Window:
    """A window spanning two percentiles of the data, for images without a stored one.

    The lower percentile becomes :attr:`Window.lower` (black) and the upper one
    :attr:`Window.upper` (white), via :meth:`Window.from_bounds`.  NaN and
    infinite values are ignored.  A LINEAR window is at least 1 wide, so for
    real-valued data spanning less than about 1 (PET SUV, parametric maps)
    use ``function="LINEAR_EXACT"``.  A constant image gives a width-1 LINEAR
    window that shows it black.

    Parameters
    ----------
    array : array_like
        Modality values (HU for CT).
    percentiles : (float, float), optional
        Lower and upper percentile, ``0 <= low < high <= 100``; default (1, 99).
    function : VoiFunction or str, optional
        VOI LUT Function of the result; default ``"LINEAR"``.
    mask : array_like of bool, optional
        Only these pixels count (e.g. exclude CT padding outside the field of view).

    Examples
    --------
    >>> import numpy as np
    >>> auto_window(np.arange(101), percentiles=(10, 90))
    Window(center=50.5, width=81.0)
    >>> auto_window(np.arange(101), percentiles=(10, 90), function="LINEAR_EXACT")
    Window(center=50.0, width=80.0, function='LINEAR_EXACT')
    >>> auto_window([0.0, 0.2, 0.4], percentiles=(0, 100), function="LINEAR_EXACT")
    Window(center=0.2, width=0.4, function='LINEAR_EXACT')
    >>> auto_window([1, 2], percentiles=(99, 1))
    Traceback (most recent call last):
    ...
    ValueError: percentiles must satisfy 0 <= low < high <= 100; found (99, 1)
    """
    try:
        p_lo, p_hi = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be a pair (low, high); found {percentiles!r}") from None
    if not 0 <= p_lo < p_hi <= 100:
        raise ValueError(
            f"percentiles must satisfy 0 <= low < high <= 100; found {percentiles!r}"
        )
    values = _finite_values(array, mask, "auto_window")
    lo, hi = (float(v) for v in np.percentile(values, [p_lo, p_hi]))
    return Window.from_bounds(lo, hi, function)


class WindowHistogram(NamedTuple):
    """Result of :func:`histogram_in_window`."""

    counts: NDArray[np.intp]
    """Counts per bin over ``[window.lower, window.upper]``."""
    edges: NDArray[np.float64]
    """Bin edges, ``len(counts) + 1`` of them."""
    below: int
    """Number of values ``< window.lower`` (shown black)."""
    above: int
    """Number of values ``> window.upper`` (shown white)."""


def histogram_in_window(
    array: ArrayLike,
    window: Window,
    *,
    bins: int = 64,
    mask: ArrayLike | None = None,
) -> WindowHistogram:
    """Histogram of the values inside a window, with counts clipped below and above.

    For a teaching histogram: how many pixels the window spreads over the grey
    scale and how many it crushes to black or white.  Bins follow
    :func:`numpy.histogram` over ``[window.lower, window.upper]`` (the last bin
    is closed).  NaN and infinite values are ignored, so
    ``below + counts.sum() + above`` is the number of finite values.

    Examples
    --------
    >>> h = histogram_in_window([-1000, 0, 1, 2, 3, 1000], Window(2, 4), bins=3)
    >>> h.counts.tolist(), h.edges.tolist(), h.below, h.above
    ([1, 1, 2], [0.0, 1.0, 2.0, 3.0], 1, 1)
    """
    if not isinstance(window, Window):
        raise TypeError(f"histogram_in_window() expected a Window; found {type(window).__name__}")
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 1:
        raise ValueError(f"bins must be a positive integer; found {bins!r}")
    values = _finite_values(array, mask, "histogram_in_window")
    lo, hi = window.lower, window.upper
    if lo == hi:  # LINEAR width 1: numpy needs a non-empty range
        hi = np.nextafter(lo, np.inf)
    counts, edges = np.histogram(values, bins=int(bins), range=(lo, hi))
    return WindowHistogram(
        counts=counts,
        edges=edges,
        below=int(np.count_nonzero(values < lo)),
        above=int(np.count_nonzero(values > hi)),
    )
