"""The DICOMweb archive back end (`caselib.store.dicomweb.DicomwebStore`) against a real Orthanc."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from caselib.catalog import Catalog
from caselib.ingest import ingest
from caselib.pacs import PacsConfig
from caselib.store import ConflictError, InstanceKey, InstanceNotFoundError, LocalStore, Store, StoreError
from caselib.store.dicomweb import DicomwebStore, mirror_archive, mirror_on_publish

sys.path.insert(0, str(Path(__file__).parent))
from ingest_fixtures import make_ct, to_part10, uid  # noqa: E402
from orthanc_support import OrthancServer, orthanc_available  # noqa: E402

if not orthanc_available():  # a missing Orthanc is a broken set-up, not a reason to skip: CI installs it
    pytest.fail("these tests need Debian orthanc and orthanc-dicomweb (make system-deps)", pytrace=False)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with OrthancServer(tmp_path_factory.mktemp("store"), aet="ARCHIVE") as server:
        yield server


@pytest.fixture
def store(orthanc):
    orthanc.clear()
    node = PacsConfig.from_dict({"nodes": {"a": {"dicomweb_url": orthanc.dicomweb_url, "username_env": "U",
                                                 "password_env": "P", "retries": 2, "backoff": 0.05}}}).node("a")
    s = DicomwebStore.from_node(node, environ={"U": orthanc.user, "P": orthanc.password}, orthanc_api=True)
    yield s
    s.conn.close()


def _ct(n: int, seed: int = 0):
    return make_ct(sop=uid(5, 1, n), study=uid(5), series=uid(5, 1), seed=seed, instance_number=n,
                   patient_id="CL-000001", patient_name="CL-000001")


def test_put_get_exists_iter_delete_like_local_store(store, tmp_path):
    assert isinstance(store, Store)
    local = LocalStore(tmp_path / "local")
    results = [store.put(_ct(n)) for n in (1, 2, 3)]
    assert [r.status for r in results] == ["written"] * 3
    assert results[0].compression == "jpeg-ls" and results[0].transfer_syntax == "1.2.840.10008.1.2.4.80"
    for n in (1, 2, 3):
        local.put(_ct(n))
    assert list(store.iter_instances()) == list(local.iter_instances())
    assert list(store.iter_instances(uid(5), uid(5, 1))) == list(local.iter_instances(uid(5), uid(5, 1)))
    key = InstanceKey(uid(5), uid(5, 1), uid(5, 1, 2))
    assert store.exists(key) and store.exists(uid(5, 1, 2)) and not store.exists(uid(5, 1, 99))
    assert np.array_equal(store.get(key).pixel_array, local.get(key).pixel_array)
    with store.open(uid(5, 1, 3)) as fh:
        assert fh.read(132)[128:] == b"DICM"
    # the same object again: nothing written; different content under the same UID: conflict
    assert store.put(_ct(1)).status == "unchanged"
    with pytest.raises(ConflictError, match=f"{uid(5, 1, 1)} is already stored on .* with different content"):
        store.put(_ct(1, seed=7))
    replaced = store.put(_ct(1, seed=7), replace=True)
    assert replaced.status == "written" and "replaced" in replaced.note
    assert np.array_equal(store.get(uid(5, 1, 1)).pixel_array, _ct(1, seed=7).pixel_array)
    assert store.size().n_instances == 3 and store.size().n_bytes > 0
    assert store.delete(uid(5, 1, 2)) and not store.delete(uid(5, 1, 2))
    assert [k.sop_instance_uid for k in store.iter_instances()] == [uid(5, 1, 1), uid(5, 1, 3)]
    with pytest.raises(InstanceNotFoundError):
        store.get(uid(5, 1, 2))


def test_delete_without_orthanc_api_says_why(store):
    store.put(_ct(1))
    plain = DicomwebStore(store.conn)
    with pytest.raises(StoreError, match="no instance delete here; open the store with orthanc_api=True"):
        plain.delete(uid(5, 1, 1))


def test_catalog_on_top_of_a_dicomweb_archive(store, tmp_path):
    """Ingest mirrors every published object to the server; each catalog row resolves there."""
    src = tmp_path / "src"
    src.mkdir()
    for n in (1, 2, 3, 4):
        (src / f"{n}.dcm").write_bytes(to_part10(make_ct(sop=uid(6, 1, n), study=uid(6), series=uid(6, 1),
                                                         instance_number=n, seed=n)))
    archive = tmp_path / "archive"
    report = ingest(src, archive, workers=1, progress=False, on_published=mirror_on_publish(store))
    assert report.published == 4
    with Catalog.open(archive, readonly=True) as cat:
        rows = cat.connection.execute(
            "SELECT t.study_uid, s.series_uid, i.sop_uid FROM instances i JOIN series s ON s.series_pk = i.series_pk "
            "JOIN studies t ON t.study_pk = s.study_pk").fetchall()
    assert len(rows) == 4
    local = LocalStore(archive)
    for row in rows:
        key = InstanceKey(*row)
        assert store.exists(key)
        assert np.array_equal(store.get(key).pixel_array, local.get(key).pixel_array)
    # mirroring the whole archive again writes nothing new
    assert {r.status for r in mirror_archive(archive, store)} == {"unchanged"}
    assert store.size().n_instances == 4
