"""The docstring examples of caselib.deid run as tests (they are its usage documentation)."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["caselib.deid", "caselib.deid.table", "caselib.deid.values", "caselib.deid.keys",
           "caselib.deid.registry", "caselib.deid.private", "caselib.deid.text", "caselib.deid.profile",
           "caselib.deid.engine", "caselib.deid.verify", "caselib.deid.pixels", "caselib.deid.encode"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0 or name == "caselib.deid.errors"


def test_public_api_is_declared():
    deid = importlib.import_module("caselib.deid")
    for name in deid.__all__:
        assert hasattr(deid, name), name
    for name in MODULES[1:]:
        module = importlib.import_module(name)
        assert module.__all__ and all(hasattr(module, n) for n in module.__all__), name


def test_core_imports_only_pydicom_and_the_standard_library():
    import subprocess
    import sys

    code = ("import sys, caselib.deid; bad = [m for m in ('pandas', 'ipywidgets', 'anywidget', 'matplotlib', "
            "'yaml', 'caselib.dicom', 'caselib.ui') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
