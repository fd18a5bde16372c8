"""caselib.deid.values, keys and registry: pure functions, the secret, pseudonym registries."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest
from pydicom.uid import UID

from caselib.deid import (
    JSONPseudonymRegistry,
    Keyring,
    MemoryPseudonymRegistry,
    RegistryError,
    SecretError,
    SQLitePseudonymRegistry,
    load_secret,
    open_registry,
    secret_fingerprint,
)
from caselib.deid.values import (
    cap_age,
    dummy_value,
    is_well_known_uid,
    shift_date,
    shift_datetime,
    uid_from_digest,
)


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("20240301", -1, "20240229"), ("19000101", -3650, "18900103"), ("", 5, ""),
    ("20240301-20240310", 7, "20240308-20240317"), ("2024.03.01", 0, "20240301"),
    ("2024031", 1, None), ("20241301", 1, None), ("00010101", -1, None),
])
def test_shift_date(value, days, expected):
    assert shift_date(value, days) == expected


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("20240315101530.123456", -365, "20230316101530.123456"),
    ("20240315101530+0100", 1, "20240316101530+0100"),
    ("202403", 31, "202404"), ("2024", -400, "2022"), ("junk", 1, None),
])
def test_shift_datetime_keeps_time_and_precision(value, days, expected):
    assert shift_datetime(value, days) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("095Y", "090Y"), ("090Y", "090Y"), ("089Y", "089Y"), ("1080M"[1:], "080M"), ("999M", "999M"),
    ("5000W"[1:], "000W"), ("34Y", ""), ("", ""),
])
def test_cap_age(value, expected):
    assert cap_age(value) == expected
    assert cap_age("120Y", max_years=99) == "100Y"


def test_dummy_values_fit_their_vr():
    assert dummy_value("PN") == "ANONYMIZED" and dummy_value("DA") == "19000101"
    assert dummy_value("OW", 5) == b"\x00" * 6
    with pytest.raises(ValueError, match="no dummy value for VR 'SQ'"):
        dummy_value("SQ")


def test_replacement_uids_are_valid_uuid_derived_uids():
    for seed in range(50):
        uid = uid_from_digest(bytes([seed]) * 32)
        assert uid.startswith("2.25.") and len(uid) <= 64 and UID(uid).is_valid
    assert is_well_known_uid("1.2.840.10008.1.2.4.50")
    assert is_well_known_uid("1.2.840.113619.2.55.3")  is False


def test_keyring_is_deterministic_per_secret():
    a, b, other = Keyring(b"a" * 32), Keyring(b"a" * 32), Keyring(b"b" * 32)
    assert a.uid("1.2.3.4") == b.uid("1.2.3.4") != other.uid("1.2.3.4")
    assert a.uid("1.2.3.4") != a.uid("1.2.3.5")
    offsets = {a.date_offset(f"patient {i}", (-3650, -365)) for i in range(200)}
    assert min(offsets) >= -3650 and max(offsets) <= -365 and len(offsets) > 150
    assert a.date_offset("p", (-10, -10)) == -10
    assert "aaaa" not in repr(a) and a.fingerprint == secret_fingerprint(b"a" * 32)
    with pytest.raises(SecretError, match="secret too short: expected at least 16 bytes, got 3"):
        Keyring(b"abc")


def test_load_secret_creates_a_private_file(tmp_path):
    path = tmp_path / "archive" / ".caselib-secret"
    secret = load_secret(path)
    assert len(secret) == 32 and load_secret(path, create=False) == secret
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert secret.hex() in path.read_text()
    path.chmod(0o644)
    with pytest.raises(SecretError, match=r"has mode 0644; expected 0600 \(run: chmod 600 "):
        load_secret(path)
    with pytest.raises(SecretError, match="does not exist"):
        load_secret(tmp_path / "missing", create=False)
    bad = tmp_path / "bad"
    bad.write_text("not a secret")
    bad.chmod(0o600)
    with pytest.raises(SecretError, match="malformed"):
        load_secret(bad)


def test_load_secret_refuses_an_unignored_path_in_a_git_tree(tmp_path):
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:  # pragma: no cover
        pytest.skip("git not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(SecretError, match="inside a git work tree"):
        load_secret(tmp_path / "secret.txt")
    (tmp_path / ".gitignore").write_text(".caselib-secret\n")
    assert len(load_secret(tmp_path / ".caselib-secret")) == 32


@pytest.mark.parametrize("kind", ["memory", "sqlite", "json"])
def test_registries_number_patients_in_order_and_persist(tmp_path, kind):
    def make():
        return {"memory": MemoryPseudonymRegistry, "sqlite": lambda: SQLitePseudonymRegistry(tmp_path / "p.sqlite"),
                "json": lambda: JSONPseudonymRegistry(tmp_path / "p.json")}[kind]()

    reg = make()
    reg.bind("fp1")
    assert [reg.number_for(k) for k in ("a", "b", "a", "c")] == [1, 2, 1, 3]
    assert reg.get("b") == 2 and reg.get("zzz") is None and len(reg) == 3
    with pytest.raises(RegistryError, match="another archive secret"):
        reg.bind("fp2")
    if kind != "memory":
        again = make()
        again.bind("fp1")
        assert again.number_for("c") == 3 and again.number_for("d") == 4


def _assign(path: str, keys: list[str], queue) -> None:  # pragma: no cover - runs in a child process
    reg = open_registry(path)
    queue.put({k: reg.number_for(k) for k in keys})


@pytest.mark.parametrize("suffix", [".sqlite", ".json"])
def test_registries_are_race_free_across_processes(tmp_path, suffix):
    path = str(tmp_path / f"reg{suffix}")
    keys = [f"patient-{i}" for i in range(25)]
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_assign, args=(path, keys[i::2] + keys[::3], queue)) for i in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    merged: dict[str, int] = {}
    for result in results:
        for key, number in result.items():
            assert merged.setdefault(key, number) == number, key   # same key, same number everywhere
    assert sorted(merged.values()) == list(range(1, len(merged) + 1))  # unique and contiguous


def test_open_registry_by_suffix(tmp_path):
    assert isinstance(open_registry(tmp_path / "x.json"), JSONPseudonymRegistry)
    assert isinstance(open_registry(tmp_path / "x.sqlite"), SQLitePseudonymRegistry)
    assert isinstance(open_registry(None), MemoryPseudonymRegistry)
    assert os.path.exists(tmp_path / "x.sqlite")
