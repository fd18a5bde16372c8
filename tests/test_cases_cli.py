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


def test_bank_export_moodle_qti_csv_from_csv_and_cases(tmp_path):
    import xml.etree.ElementTree as ET
    import zipfile
    from pathlib import Path

    bank = tmp_path / "bank.csv"
    export_bank_csv(all_types(), bank)
    cases = Path(__file__).resolve().parents[1] / "cases"
    moodle = tmp_path / "bank.xml"
    out = _caselib("bank", "export", str(moodle), "--format", "moodle", "--from", str(bank), "--cases", str(cases))
    assert out.returncode == 0, out.stderr
    assert "questions written to" in out.stdout and "skipped" in out.stdout  # hotspot/window have no Moodle type
    names = {q.findtext("idnumber") for q in ET.parse(moodle).getroot().iter("question")}
    assert "ge-head-ct-gantry-tilt.tilt-degrees" in names  # case questions are prefixed by their case id
    qti = tmp_path / "bank.zip"
    assert _caselib("bank", "export", str(qti), "--format", "qti", "--from", str(bank)).returncode == 0
    assert "imsmanifest.xml" in zipfile.ZipFile(qti).namelist()
    csv_out = tmp_path / "again.csv"
    assert _caselib("bank", "export", str(csv_out), "--format", "csv", "--from", str(bank)).returncode == 0
    assert csv_out.read_bytes() == bank.read_bytes()
    assert _caselib("bank", "export", str(tmp_path / "x.xml")).returncode == 2


def test_cases_validate_names_every_problem_of_a_case(tmp_path):
    root = tmp_path / "cases"
    root.mkdir()
    data = _mutated("findings[0].roi.radius_mm", -3)
    data["difficulty"] = "expert"
    data["colour"] = "red"
    write_case(root, data, "synthetic-003")
    bad = _caselib("cases", "validate", str(root))
    assert bad.returncode == 1
    for problem in ("findings[0].roi.radius_mm: expected a positive number, found -3",
                    "difficulty: expected one of primary, intermediate, advanced, found 'expert'",
                    "colour: expected one of the fields"):
        assert sum(problem in line for line in bad.stdout.splitlines()) == 1, bad.stdout


def test_the_demo_library_validates_from_the_command_line():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "cases"
    out = _caselib("cases", "validate", str(root))
    n = len(list(root.rglob("case.yaml")))
    assert out.returncode == 0 and f"{n} of {n} cases valid" in out.stdout, out.stdout


def test_bank_template_and_import_xlsx(tmp_path):
    import pytest

    pytest.importorskip("openpyxl")
    template = tmp_path / "template.xlsx"
    assert _caselib("bank", "template", str(template)).returncode == 0
    bank = tmp_path / "bank.xlsx"
    export_bank_csv(all_types(), bank)
    imported = _caselib("bank", "import", str(bank))
    assert imported.returncode == 0, imported.stderr
    assert f"{len(all_types())} questions valid" in imported.stdout
