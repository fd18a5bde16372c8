"""Modality LUT by rescale: stored values to modality values (HU for CT)."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from caselib.imaging._checks import finite_number

__all__ = ["apply_rescale"]


def apply_rescale(
    stored: ArrayLike,
    slope: float = 1.0,
    intercept: float = 0.0,
    *,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Stored values to modality values: ``stored * slope + intercept``.

    The linear Modality LUT of PS3.3 C.11.1.1.2, with (0028,1053) Rescale
    Slope and (0028,1052) Rescale Intercept; for CT the result is in HU.

    The result is always floating, ``float32`` unless another floating `dtype`
    is asked for, and the arithmetic is done in that type.  Integer data is not
    kept as integers even when slope is 1 and the intercept integral, so that
    callers always get one predictable type; ``float32`` holds every integer
    up to 2**24 exactly, so 16-bit stored values with an integral intercept
    give exact HU.  Ask for ``float64`` when slope or intercept carry more
    than about 7 significant digits.

    Parameters
    ----------
    stored : array_like
        Stored pixel values, any shape.
    slope, intercept : float, optional
        Rescale Slope (finite, non-zero) and Rescale Intercept (finite).
    dtype : data-type, optional
        A floating type, ``float32`` (default) or ``float64``.

    Returns
    -------
    numpy.ndarray
        A new array of `dtype`, same shape as `stored`.

    Examples
    --------
    >>> import numpy as np
    >>> apply_rescale(np.array([0, 1000, 2000], dtype=np.uint16), 1, -1024)
    array([-1024.,   -24.,   976.], dtype=float32)
    >>> apply_rescale([10, 20], slope=0.5, intercept=1.0, dtype=np.float64)
    array([ 6., 11.])
    >>> apply_rescale([1], slope=0)
    Traceback (most recent call last):
    ...
    ValueError: (0028,1053) Rescale Slope must not be 0 (a zero slope maps every stored value to the intercept)
    >>> apply_rescale([1], dtype=np.int16)
    Traceback (most recent call last):
    ...
    TypeError: apply_rescale() dtype must be a floating type such as float32 or float64; found int16
    """
    m = finite_number(slope, "(0028,1053) Rescale Slope")
    b = finite_number(intercept, "(0028,1052) Rescale Intercept")
    if m == 0:
        raise ValueError(
            "(0028,1053) Rescale Slope must not be 0 "
            "(a zero slope maps every stored value to the intercept)"
        )
    out_dtype = np.dtype(dtype)
    if not np.issubdtype(out_dtype, np.floating):
        raise TypeError(
            "apply_rescale() dtype must be a floating type such as float32 or float64; "
            f"found {out_dtype}"
        )
    out = np.array(stored, dtype=out_dtype)  # always a copy
    if m != 1:
        np.multiply(out, np.asarray(m, dtype=out_dtype), out=out)
    if b != 0:
        np.add(out, np.asarray(b, dtype=out_dtype), out=out)
    return out
