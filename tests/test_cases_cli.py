"""`caselib cases validate|list` and `caselib bank template|import` through the real command line."""
from __future__ import annotations

import subprocess
import sys

from caselib.cases import export_bank_csv

from test_cases_bank_csv import all_types
from test_cases_schema import _mutated, synthetic_case, write_case


def _caselib(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caselib.cli", *args], capture_output=True, text=True)


def test_cases_validate_and_list(tmp_path):
    root = tmp_path / "cases"
    root.mkdir()
    write_case(root, synthetic_case(), "synthetic-001")
    ok = _caselib("cases", "validate", str(root))
    assert ok.returncode == 0 and "1 of 1 cases valid" in ok.stdout
    listing = _caselib("cases", "list", str(root))
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].split("\t")[:4] == ["synthetic-001", "respiratory", "CT", "primary"]
    write_case(root, _mutated("findings[0].roi.radius_mm", -3), "synthetic-002")
    bad = _caselib("cases", "validate", str(root))
    assert bad.returncode == 1
    assert "INVALID" in bad.stdout and "findings[0].roi.radius_mm: expected a positive number, found -3" in bad.stdout
    assert "1 of 2 cases valid" in bad.stdout


def test_bank_template_and_import(tmp_path):
    template = tmp_path / "template.csv"
    out = _caselib("bank", "template", str(template))
    assert out.returncode == 0 and template.read_bytes().startswith(b"\xef\xbb\xbf")
    bank = tmp_path / "bank.csv"
    export_bank_csv(all_types(), bank)
    imported = _caselib("bank", "import", str(bank))
    assert imported.returncode == 0, imported.stderr
    assert f"{len(all_types())} questions valid" in imported.stdout
    broken = tmp_path / "broken.csv"
    broken.write_text(bank.read_text(encoding="utf-8-sig").replace("\n", "\nnot,a,valid,row\n", 1), encoding="utf-8-sig")
    failed = _caselib("bank", "import", str(broken))
    assert failed.returncode == 2 and "row 2" in failed.stderr
