"""Regenerate ``caselib/deid/data/ps3.15-table-E.1-1.json`` from the shared copies of the standard.

The project keeps its own copy of DICOM PS3.15 Annex E Table E.1-1 as data, with the
standard's revision and the provenance of every row written beside it.  This script
merges

* the full table of revision 2024b (every option column), and
* the rows that revision 2026c adds (tag and Basic Profile action only),

from ``../shared/standards`` beside the repository (or the folder given on the command line) and records,
for each source file, its name, size and sha256, and for each row the revision it came
from.  Row content is copied verbatim; only the 2026c rows gain a ``name`` looked up in
pydicom's data dictionary where pydicom knows the tag (``name_source`` says so), and
``null`` where it does not: names are never invented.

Usage::

    python tools/build_deid_table.py ../shared/standards

The output is deterministic (sorted keys, rows in tag order), so a re-run with the same
inputs gives a byte-identical file and any change shows up in review.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

BASE_FILE = "ps3.15-table-E.1-1-2024b.json"
ADDED_FILE = "ps3.15-table-E.1-1-added-in-2026c.json"
OUT = Path(__file__).resolve().parents[1] / "caselib" / "deid" / "data" / "ps3.15-table-E.1-1.json"

#: option columns of the 2024b file, in the order of the columns of Table E.1-1
OPTION_COLUMNS = (
    "rtnSafePrivOpt",
    "rtnUIDsOpt",
    "rtnDevIdOpt",
    "rtnInstIdOpt",
    "rtnPatCharsOpt",
    "rtnLongFullDatesOpt",
    "rtnLongModifDatesOpt",
    "cleanDescOpt",
    "cleanStructContOpt",
    "cleanGraphOpt",
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sort_key(row: dict) -> str:
    return row["tag"].upper()


def build(folder: Path) -> dict:
    base_path, added_path = folder / BASE_FILE, folder / ADDED_FILE
    base = json.loads(base_path.read_text(encoding="utf-8"))
    added = json.loads(added_path.read_text(encoding="utf-8"))["added_in_2026c"]

    rows = []
    seen = set()
    for row in base:
        out = {k: row[k] for k in ("tag", "name", "stdCompIOD", "basicProfile", "id")}
        out.update({k: row[k] for k in OPTION_COLUMNS if k in row})
        unknown = set(row) - set(out)
        if unknown:
            raise SystemExit(f"{BASE_FILE}: row {row['tag']} has unknown columns {sorted(unknown)}")
        out["revision"] = "2024b"
        rows.append(out)
        seen.add(row["tag"].upper())

    from pydicom.datadict import dictionary_description  # only the build needs pydicom here

    for tag, action in added.items():
        if tag.upper() in seen:
            raise SystemExit(f"{ADDED_FILE}: {tag} is already a row of revision 2024b")
        try:
            name = dictionary_description(int(tag[1:5] + tag[6:10], 16))
            name_source = "pydicom data dictionary (the 2026c file gives no name)"
        except KeyError:
            name, name_source = None, "unknown: not in the 2026c file nor in pydicom's dictionary"
        rows.append({
            "tag": tag,
            "name": name,
            "name_source": name_source,
            "basicProfile": action,
            "id": (tag[1:5] + tag[6:10]).lower(),
            "revision": "2026c",
        })

    rows.sort(key=_sort_key)
    return {
        "title": "DICOM PS3.15 Annex E, Table E.1-1: Application Level Confidentiality Profile Attributes",
        "standard": "DICOM PS3.15",
        "table": "E.1-1",
        "revision": "2026c",
        "revisions": {
            "2024b": {
                "file": BASE_FILE,
                "sha256": _sha256(base_path),
                "size": base_path.stat().st_size,
                "rows": len(base),
                "content": "every row of the table, Basic Profile and every option column",
            },
            "2026c": {
                "file": ADDED_FILE,
                "sha256": _sha256(added_path),
                "size": added_path.stat().st_size,
                "rows": len(added),
                "content": "rows added by revision 2026c: tag and Basic Profile action only; "
                           "no option column is given for them, so none is applied",
            },
        },
        "generated_by": "python tools/build_deid_table.py",
        "columns": {
            "tag": "(gggg,eeee); repeating groups as (50XX,XXXX), (60XX,3000); private attributes as "
                   "'(GGGG,EEEE) WHERE GGGG IS ODD'",
            "name": "attribute name as printed in the table (verbatim, notes included)",
            "stdCompIOD": "Y if the attribute is used in a standard composite IOD",
            "basicProfile": "action of the Basic Profile (D, Z, X, K, C, U, Z/D, X/Z, X/D, X/Z/D, X/Z/U*)",
            "rtnSafePrivOpt": "Retain Safe Private Option (DCM 113111)",
            "rtnUIDsOpt": "Retain UIDs Option (DCM 113110)",
            "rtnDevIdOpt": "Retain Device Identity Option (DCM 113109)",
            "rtnInstIdOpt": "Retain Institution Identity Option (DCM 113112)",
            "rtnPatCharsOpt": "Retain Patient Characteristics Option (DCM 113108)",
            "rtnLongFullDatesOpt": "Retain Longitudinal Temporal Information Full Dates Option (DCM 113106)",
            "rtnLongModifDatesOpt": "Retain Longitudinal Temporal Information Modified Dates Option (DCM 113107)",
            "cleanDescOpt": "Clean Descriptors Option (DCM 113105)",
            "cleanStructContOpt": "Clean Structured Content Option (DCM 113104)",
            "cleanGraphOpt": "Clean Graphics Option (DCM 113103)",
            "id": "identifier of the row in the source file",
            "revision": "revision of the standard the row comes from",
            "name_source": "where the name of a 2026c row comes from",
        },
        "rows": rows,
    }


def dumps(table: dict) -> str:
    """JSON text with the header indented and one row per line (reviewable diffs)."""
    head = {k: v for k, v in table.items() if k != "rows"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    rows = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in table["rows"])
    return text + ',\n "rows": [\n' + rows + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "shared" / "standards"
    table = build(folder)
    OUT.write_text(dumps(table), encoding="utf-8")
    print(f"wrote {OUT} ({len(table['rows'])} rows)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
