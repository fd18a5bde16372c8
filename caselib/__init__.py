"""caselib: a radiology teaching case library built on Jupyter.

The core (``caselib.data``, ``caselib.dicom``, ``caselib.imaging``) imports no
widget library; ``caselib.ui`` is the only package that does.
"""
from __future__ import annotations

from caselib.errors import CaselibError

__version__ = "0.1.0"
__all__ = ["CaselibError", "__version__"]
