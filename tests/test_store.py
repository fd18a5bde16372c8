"""caselib.store.LocalStore: layout, UIDs, idempotent puts, conflicts, atomic writes, crash recovery."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array
from pydicom.uid import JPEGLSLossless, RLELossless

from caselib.data import fetch, fetch_dataset
from caselib.store import (
    PARTIAL_PREFIX,
    ConflictError,
    InstanceKey,
    InstanceNotFoundError,
    InvalidUIDError,
    LocalStore,
    PutResult,
    Store,
    StoreError,
    StoreSize,
    local,
    validate_uid,
)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:The value length")


@pytest.fixture(scope="module")
def ct_files() -> list[Path]:
    return sorted(fetch_dataset("tcia-lung-ct", progress=False).glob("*.dcm"))


def read(path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- layout and the protocol


def test_a_series_is_filed_by_uid_and_the_report_can_sum_bytes(tmp_path, ct_files):
    store = LocalStore(tmp_path / "archive")
    assert isinstance(store, Store)
    results = [store.put(p) for p in ct_files]
    first = read(ct_files[0])
    key = InstanceKey.from_dataset(first)
    r = results[0]
    assert isinstance(r, PutResult) and r.status == "written" and r.compression == "jpeg-ls"
    assert r.path == str(tmp_path / "archive" / "objects" / key.study_uid / key.series_uid / f"{key.sop_instance_uid}.dcm")
    assert r.sop_instance_uid == key.sop_instance_uid and r.key == key
    assert r.transfer_syntax == JPEGLSLossless
    assert r.bytes_in == ct_files[0].stat().st_size and r.bytes_out == Path(r.path).stat().st_size
    bytes_in = sum(x.bytes_in for x in results)
    bytes_out = sum(x.bytes_out for x in results)
    assert bytes_in / bytes_out >= 2.5  # the goal holds for whole files, headers included
    keys = list(store.iter_instances())
    assert len(keys) == 30 and keys == sorted(keys)
    assert list(store.iter_instances(key.study_uid, key.series_uid)) == keys
    assert list(store.iter_instances("1.2.3")) == []
    assert store.size() == StoreSize(30, bytes_out)
    assert store.exists(key) and store.exists(key.sop_instance_uid) and not store.exists("1.2.3.4")
    assert store.find(key.sop_instance_uid) == key
    stored = store.get(key.sop_instance_uid)
    assert np.array_equal(pixel_array(stored, raw=True), pixel_array(first, raw=True))
    with store.open(key) as fh:
        assert fh.read()[128:132] == b"DICM"


def test_a_fresh_store_finds_what_an_earlier_one_wrote(tmp_path, ct_files):
    LocalStore(tmp_path).put(ct_files[0])
    again = LocalStore(tmp_path)
    key = InstanceKey.from_dataset(read(ct_files[0]))
    assert again.find(key.sop_instance_uid) == key
    assert again.put(ct_files[0]).status == "unchanged"


def test_put_accepts_datasets_paths_and_bytes(tmp_path, ct_files):
    store = LocalStore(tmp_path, compression="rle")
    ds = read(ct_files[1])
    r = store.put(ds)
    assert r.transfer_syntax == RLELossless and r.bytes_in > 0
    assert store.put(str(ct_files[1])).status == "unchanged"
    assert store.put(ct_files[1].read_bytes()).status == "unchanged"
    with pytest.raises(TypeError, match="put\\(\\) takes a pydicom Dataset, a path or bytes, found int"):
        store.put(42)  # type: ignore[arg-type]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom" * 100)
    with pytest.raises(StoreError, match="junk.dcm is not a readable DICOM Part 10 file"):
        store.put(junk)


def test_delete_removes_the_file_and_empty_folders(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    r0, r1 = store.put(ct_files[0]), store.put(ct_files[1])
    assert store.delete(r0.sop_instance_uid) is True
    assert store.delete(r0.sop_instance_uid) is False
    assert not Path(r0.path).exists() and Path(r1.path).exists()
    assert store.delete(r1.key) is True
    assert list((tmp_path / "objects").iterdir()) == []  # series and study folders pruned
    with pytest.raises(InstanceNotFoundError, match=f"no object '{r0.sop_instance_uid}' in the archive"):
        store.get(r0.sop_instance_uid)
    assert store.size() == StoreSize(0, 0)


# --------------------------------------------------------------------------- UIDs are path components: validated


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "1.2..3", ".1.2", "1.2.", "1.02.3", "1.2.3a", "1/2", "1" * 65])
def test_invalid_uids_are_rejected(bad):
    with pytest.raises(InvalidUIDError, match=r"Study Instance UID (must be a DICOM UID|is missing)"):
        validate_uid(bad, "(0020,000D) Study Instance UID")
    assert issubclass(InvalidUIDError, ValueError)


def test_longest_valid_uid_is_accepted():
    uid = "1." + "2" * 62
    assert len(uid) == 64 and validate_uid(uid) == uid


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_an_object_with_a_bad_uid_is_not_written(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    ds = read(ct_files[0])
    ds.StudyInstanceUID = "../../outside"
    with pytest.raises(InvalidUIDError, match=r"\(0020,000D\) Study Instance UID must be a DICOM UID .* found '../../outside'"):
        store.put(ds)
    del ds.StudyInstanceUID
    with pytest.raises(InvalidUIDError, match=r"\(0020,000D\) Study Instance UID is missing or empty"):
        store.put(ds)
    with pytest.raises(InvalidUIDError):
        store.exists("1.2..3")
    assert files_under(tmp_path) == {}


# --------------------------------------------------------------------------- idempotence and conflicts


def test_putting_the_same_object_twice_is_a_no_op(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    first = store.put(ct_files[0])
    stat = os.stat(first.path)
    before = files_under(tmp_path)
    again = store.put(ct_files[0])
    assert (again.status, again.note) == ("unchanged", "same content already stored: nothing written")
    assert again.path == first.path and again.bytes_out == first.bytes_out and again.fingerprint == first.fingerprint
    assert again.compression == "jpeg-ls"
    other_option = store.put(read(ct_files[0]), compression="jpeg2000")
    assert other_option.status == "unchanged"  # same content, whatever the requested encoding
    assert files_under(tmp_path) == before and os.stat(first.path).st_mtime_ns == stat.st_mtime_ns


def test_the_same_object_in_another_encoding_is_unchanged(tmp_path):
    store = LocalStore(tmp_path)
    assert store.put(fetch("pydicom/MR_small.dcm")).status == "written"
    for key in ("pydicom/MR_small_implicit.dcm", "pydicom/MR_small_bigendian.dcm", "pydicom/MR_small_RLE.dcm",
                "pydicom/MR_small_jpeg_ls_lossless.dcm", "pydicom/MR_small_jp2klossless.dcm"):
        assert store.put(fetch(key)).status == "unchanged", key
    assert store.size().n_instances == 1


def test_a_different_object_with_the_same_sop_instance_uid_is_a_conflict(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    first = store.put(ct_files[0])
    before = files_under(tmp_path)
    ds = read(ct_files[0])
    arr = pixel_array(ds, raw=True).copy()
    arr[200, 200] += 1
    ds.PixelData = arr.tobytes()
    with pytest.raises(ConflictError, match=(
        rf"\(0008,0018\) SOP Instance UID {first.sop_instance_uid} is already stored at '.*\.dcm' "
        r"with different content \(fingerprint [0-9a-f]{12}\.\.\., new [0-9a-f]{12}\.\.\.\); not written"
    )) as info:
        store.put(ds)
    assert info.value.existing == first.path and info.value.existing_fingerprint == first.fingerprint
    assert info.value.new_fingerprint != first.fingerprint
    header = read(ct_files[0])
    header.PatientSex = "F" if header.get("PatientSex") != "F" else "M"
    with pytest.raises(ConflictError):
        store.put(header)
    assert files_under(tmp_path) == before  # the stored object is untouched


def test_a_conflict_is_found_across_series_and_replace_moves_the_object(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    first = store.put(ct_files[0])
    moved = read(ct_files[0])
    moved.SeriesInstanceUID = "2.25.9"
    with pytest.raises(ConflictError, match=r"already stored under study .*, series .* \(the new object names study .*, series 2\.25\.9\)"):
        LocalStore(tmp_path).put(moved)  # a fresh store scans the folder for the UID
    replaced = store.put(moved, replace=True)
    assert replaced.status == "written" and replaced.note.endswith("replaced the previously stored object")
    assert not Path(first.path).exists() and Path(replaced.path).exists()
    assert store.size().n_instances == 1 and store.find(first.sop_instance_uid).series_uid == "2.25.9"


def test_replace_in_place_is_atomic_and_reported(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    first = store.put(ct_files[0])
    ds = read(ct_files[0])
    ds.SeriesDescription = "corrected"
    r = store.put(ds, replace=True)
    assert r.path == first.path and r.status == "written" and "replaced" in r.note
    assert store.get(first.key).SeriesDescription == "corrected"


# --------------------------------------------------------------------------- atomic writes


def _crash_halfway(fh, data):
    fh.write(data[: len(data) // 2])
    fh.flush()
    raise OSError(28, "No space left on device (simulated)")


def test_a_crash_mid_write_leaves_no_partial_dcm(tmp_path, ct_files, monkeypatch):
    store = LocalStore(tmp_path)
    monkeypatch.setattr(local, "_write_all", _crash_halfway)
    with pytest.raises(OSError, match="simulated"):
        store.put(ct_files[0])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no .dcm and no temporary file
    assert not store.exists(read(ct_files[0]).SOPInstanceUID)


def test_a_crash_while_replacing_keeps_the_old_file_intact(tmp_path, ct_files, monkeypatch):
    store = LocalStore(tmp_path)
    first = store.put(ct_files[0])
    old = Path(first.path).read_bytes()
    ds = read(ct_files[0])
    ds.SeriesDescription = "new version"
    monkeypatch.setattr(local, "_write_all", _crash_halfway)
    with pytest.raises(OSError):
        store.put(ds, replace=True)
    assert Path(first.path).read_bytes() == old
    assert files_under(tmp_path) == {Path(first.path).relative_to(tmp_path).as_posix(): old}


def test_a_crash_just_before_the_rename_leaves_the_old_state(tmp_path, ct_files, monkeypatch):
    store = LocalStore(tmp_path)
    store.put(ct_files[0])
    before = files_under(tmp_path)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(local.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.put(ct_files[1])
    monkeypatch.undo()
    assert files_under(tmp_path) == before


def test_cleanup_partial_removes_only_temporary_files(tmp_path, ct_files):
    store = LocalStore(tmp_path)
    r = store.put(ct_files[0])
    series_dir = Path(r.path).parent
    stale = [series_dir / f"{PARTIAL_PREFIX}abc.tmp", store.objects / f"{PARTIAL_PREFIX}def.tmp"]
    for p in stale:
        p.write_bytes(b"half an object")
    (series_dir / "notes.txt").write_text("a stray file is not an object")
    (store.objects / "not-a-uid").mkdir()
    assert store.size().n_instances == 1 and len(list(store.iter_instances())) == 1  # never seen as objects
    assert store.cleanup_partial(min_age=3600) == []  # too fresh: may belong to a live writer
    assert store.cleanup_partial() == sorted(stale)
    assert not any(p.exists() for p in stale) and Path(r.path).exists()


# --------------------------------------------------------------------------- kill -9 while writing many objects

CHILD = r"""
import json, sys, time
from caselib.store import local
from caselib.store import LocalStore

root, paths, slow_from = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
calls = {"n": 0}
real = local._write_all

def maybe_slow(fh, data):
    calls["n"] += 1
    if 0 <= slow_from < calls["n"]:
        fh.write(data[: len(data) // 2])
        fh.flush()
        print("HALF", flush=True)
        time.sleep(60)
    real(fh, data)

local._write_all = maybe_slow
store = LocalStore(root)
print("CLEANED", len(store.cleanup_partial()), flush=True)
for p in paths:
    r = store.put(p)
    print("PUT", r.status, flush=True)
print("DONE", flush=True)
"""


def _start(root: Path, paths: list[Path], slow_from: int = -1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), json.dumps([str(p) for p in paths]), str(slow_from)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _kill_after(proc: subprocess.Popen, marker: str, count: int) -> list[str]:
    """Read the child's lines until `marker` was seen `count` times, then kill -9 it."""
    seen, lines = 0, []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith(marker):
            seen += 1
            if seen == count:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, (lines, proc.stderr.read() if proc.stderr else "")
    return lines


def _run_to_end(root: Path, paths: list[Path]) -> list[str]:
    proc = _start(root, paths)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.split("\n")


@pytest.fixture(scope="module")
def kill_inputs(ct_files, tmp_path_factory):
    paths = ct_files[:12]
    reference = tmp_path_factory.mktemp("reference")
    store = LocalStore(reference, fsync=False)
    for p in paths:
        store.put(p)
    return paths, files_under(reference)


def _assert_consistent(root: Path, reference: dict[str, bytes]) -> dict[str, bytes]:
    """Every .dcm present is complete: byte-identical to the reference run."""
    present = {k: v for k, v in files_under(root).items() if k.endswith(".dcm")}
    for name, data in present.items():
        assert name in reference and data == reference[name], f"{name} is partial or differs"
    return present


def test_kill_9_in_the_middle_of_a_write_then_rerun_converges(tmp_path, kill_inputs):
    paths, reference = kill_inputs
    lines = _kill_after(_start(tmp_path, paths, slow_from=3), "HALF", 1)
    assert lines.count("PUT written") == 3
    present = _assert_consistent(tmp_path, reference)
    assert len(present) == 3  # the fourth object was half written: no .dcm for it
    partial = [p for p in tmp_path.rglob(f"{PARTIAL_PREFIX}*")]
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < max(len(v) for v in reference.values())
    out = _run_to_end(tmp_path, paths)
    assert "CLEANED 1" in out and out.count("PUT unchanged") == 3 and out.count("PUT written") == 9
    assert files_under(tmp_path) == reference


def test_kill_9_at_arbitrary_points_then_rerun_converges(tmp_path, kill_inputs):
    paths, reference = kill_inputs
    for after in (2, 7):
        _kill_after(_start(tmp_path, paths), "PUT", after)
        assert len(_assert_consistent(tmp_path, reference)) >= after
    out = _run_to_end(tmp_path, paths)
    assert "DONE" in out
    assert files_under(tmp_path) == reference


# --------------------------------------------------------------------------- import discipline


def test_store_imports_no_dataframe_or_widget_library():
    code = ("import sys, caselib.store; "
            "print([m for m in ('pandas', 'ipywidgets', 'anywidget', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
