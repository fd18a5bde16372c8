"""caselib.cases.library: validation naming every problem, series resolution after ingest, tree,
search and the unknown mode, over the real case library and a small real archive."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from caselib.cases import (
    CaseSchemaError,
    case_tree,
    keyring_for_archive,
    load_case,
    load_library,
    resolve_series,
    search_cases,
    sync_catalog,
    unknown_labels,
    unknown_student_view,
    validate_library,
)
from caselib.catalog import Catalog

from test_cases_schema import synthetic_case

CASES = Path(__file__).resolve().parents[1] / "cases"


def test_the_library_validates_with_its_images():
    assert validate_library(CASES, check_images=True) == []
    lib = load_library(CASES)
    assert len(lib.cases) == len(list(CASES.rglob("case.yaml"))) and not lib.problems


def _write(folder: Path, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_every_problem_of_a_case_is_named(tmp_path):
    data = copy.deepcopy(synthetic_case())
    data["difficulty"] = "expert"
    data["findings"][0]["roi"]["radius_mm"] = -3
    data["questions"][1]["abs_tol"] = "wide"
    data["colour"] = "red"
    folder = _write(tmp_path / "cases" / "bad", data)
    with pytest.raises(CaseSchemaError) as info:
        load_case(folder)
    lines = str(info.value).splitlines()
    paths = [p.path for p in info.value.problems]
    assert len(lines) == len(paths) == 4
    assert set(paths) == {"colour", "difficulty", "findings[0].roi.radius_mm", "questions[1].abs_tol"}
    assert all(line.startswith(str(folder / "case.yaml") + ": ") for line in lines)
    # the library reports them too, next to a duplicate id and a valid case
    _write(tmp_path / "cases" / "good", synthetic_case())
    _write(tmp_path / "cases" / "twin", synthetic_case())
    problems = validate_library(tmp_path / "cases")
    assert sorted(p.path for p in problems) == sorted(paths + ["id"])
    assert any("id: expected an id no other case has" in str(p) for p in problems)


def test_findings_outside_their_images_are_named(tmp_path):
    case = yaml.safe_load((CASES / "tcia-lung-ct-a0002" / "case.yaml").read_text(encoding="utf-8"))
    case["findings"][0]["slice_index"] = 30        # the series has 30 slices: 0..29
    case["findings"][1]["roi"]["col"] = 600          # 512 columns
    case["series"].append({"manifest_key": "no-such-dataset/file.dcm"})
    _write(tmp_path / "cases" / "lung", case)
    problems = [str(p) for p in validate_library(tmp_path / "cases", check_images=True)]
    assert any("findings[0].slice_index: expected a slice of tcia-lung-ct (0..29), found 30" in p for p in problems)
    assert any("findings[1].roi: expected a centre inside the 512 x 512 image" in p for p in problems)
    assert any("series[1].manifest_key: expected a file or data set of data_manifest.yaml" in p for p in problems)


# --------------------------------------------------------------------------- a small real archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The nodule phantom and three manifest files ingested the way the demo build does it."""
    from caselib.data import fetch, load_manifest
    from caselib.ingest import ingest
    from caselib.phantom import build_case_phantom

    root = tmp_path_factory.mktemp("nav")
    src = root / "src"
    build_case_phantom(CASES / "synthetic" / "phantom-nodule-size", src / "phantom")
    manifest = load_manifest()
    keys = ["pydicom-data/RG1_UNCI.dcm", "tcia-covid-ct-followup/A002304/axial/19001231-076.dcm",
            "tcia-covid-ct-followup/A002304/axial/19010112-135.dcm"]
    key_of: dict[str, str] = {}
    for key in keys:
        dest = src.joinpath(*key.split("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fetch(key), dest)
        key_of[str(dest)] = key

    def fields(label: str) -> dict:
        key = key_of.get(label)
        return {} if key is None else {"dataset": manifest.files[key].dataset, "source_refs": (key,)}

    report = ingest(src, root / "archive", workers=1, progress=False, series_fields=fields)
    assert report.quarantined == 0, report.problems
    return root / "archive"


def test_cases_find_their_series_after_ingest_remapped_the_uids(archive):
    lib = load_library(CASES)
    phantom, rg1, covid = (lib.get(i) for i in ("synthetic-phantom-nodule-size", "nema-rg1-chest-pa-cr",
                                               "tcia-covid-sbu-a002304-followup"))
    with Catalog.open(archive) as cat:
        archive_uids = {r[0] for r in cat.connection.execute("SELECT series_uid FROM series")}
        # the original phantom UID is not in the archive: only the keyring maps it
        assert phantom.series[0].series_uid not in archive_uids
        assert resolve_series(phantom, cat).missing == (phantom.series[0].series_uid,)
        keyring = keyring_for_archive(archive)
        resolved = resolve_series(phantom, cat, keyring=keyring)
        assert resolved.complete and set(resolved.series_uids) <= archive_uids
        # manifest file keys resolve through the source refs ingest recorded
        r = resolve_series(rg1, cat)
        assert r.complete and len(r.series_uids) == 1
        r = resolve_series(covid, cat)
        assert r.complete and len(r.series_uids) == 2 and r.series_uids[0] != r.series_uids[1]
        # the data set name resolves through the series' dataset field
        assert set(cat.series_for_source("tcia-covid-ct-followup")) == set(r.series_uids)
        # the whole library: cases whose series were not ingested say so, nothing is invented
        resolutions = {res.case_id: res for res in sync_catalog(cat, lib.cases, keyring=keyring)}
        assert {cid for cid, res in resolutions.items() if res.complete} == {
            "synthetic-phantom-nodule-size", "nema-rg1-chest-pa-cr", "tcia-covid-sbu-a002304-followup"}
        assert resolutions["tcia-lung-ct-a0002"].missing == ("tcia-lung-ct",)
        view = unknown_student_view(phantom, 1, resolutions[phantom.id])
        assert [ref.series_uid for ref in view.series] == list(resolved.series_uids)
        row = cat.get_case("tcia-covid-sbu-a002304-followup")
        assert row.series_uids == r.series_uids and row.modalities == ("CT",)
        # converges
        sync_catalog(cat, lib.cases, keyring=keyring)
        assert cat.get_case("tcia-covid-sbu-a002304-followup").series_uids == r.series_uids


@pytest.fixture()
def library_catalog():
    lib = load_library(CASES)
    cat = Catalog.open(":memory:")
    sync_catalog(cat, lib.cases)
    yield lib, cat
    cat.close()


def test_tree_by_organ_system_then_diagnosis_or_topic(library_catalog):
    lib, cat = library_catalog
    tree = case_tree(cat)
    assert tree.n_cases == len(lib.cases)
    systems = {s.system.value: s for s in tree.systems}
    assert {"cns", "respiratory", "breast", "musculoskeletal", "digestive"} <= set(systems)
    cns_topics = {t.label_en: [c.case_id for c in t.cases] for t in systems["cns"].topics}
    assert cns_topics["Glioblastoma (as stated by the source collection, TCIA Brain-Tumor-Progression)"] == [
        "tcia-gbm-mr-pgbm001"]
    # the six follow-up cases share their topic node across the two systems they belong to
    topic = "Comparing a prior and a current CT: technique, level and reference densities"
    n = sum(len(t.cases) for s in tree.systems for t in s.topics if t.label_en == topic)
    assert n == 6


def test_search_by_text_and_facets(library_catalog):
    lib, cat = library_catalog
    assert [r.case_id for r in search_cases(cat, "glioblastoma").rows] == ["tcia-gbm-mr-pgbm001"]
    assert "tcia-gbm-mr-pgbm001" in [r.case_id for r in search_cases(cat, "胶质母细胞瘤").rows]
    res = search_cases(cat, modality="PT")
    assert {r.case_id for r in res.rows} == {"tcia-acrin-flt-breast-pet-1", "tcia-acrin-flt-breast-pet-2"}
    everything = search_cases(cat, limit=100)
    assert everything.total == len(lib.cases)
    # declared modalities count in the facet before any series is ingested
    assert everything.facets["modality"]["CT"] == sum("CT" in c.modality for c in lib.cases)
    assert everything.facets["difficulty"]["advanced"] == sum(c.difficulty.value == "advanced" for c in lib.cases)
    assert {r.case_id for r in search_cases(cat, tags="suv").rows} == {
        "tcia-acrin-flt-breast-pet-1", "tcia-acrin-flt-breast-pet-2"}
    assert search_cases(cat, tags=["follow-up"], organ_system="digestive").total == 2
    cns_mr = search_cases(cat, organ_system="cns", modality="MR", difficulty="primary")
    assert [r.case_id for r in cns_mr.rows] == ["pediatric-brain-mr-sag-mprage"]


def test_unknown_mode_hides_titles_and_diagnoses(library_catalog):
    lib, cat = library_catalog
    tree = case_tree(cat, unknown=True, seed="class-2026")
    text = repr(tree.to_dict())
    for case in lib.cases:
        assert case.title.en not in text and case.title.zh not in text
        label = case.diagnosis or case.topic
        assert label.en not in text and label.zh not in text
    labels = unknown_labels(cat, seed="class-2026")
    res = search_cases(cat, organ_system="breast", unknown=True, seed="class-2026")
    assert res.rows and all(r.diagnosis_en is None and r.title_en == labels[r.case_id][1] for r in res.rows)
    with pytest.raises(ValueError, match="text search is not available in unknown mode"):
        search_cases(cat, "glioblastoma", unknown=True)
    gbm = lib.get("tcia-gbm-mr-pgbm001")
    view = unknown_student_view(gbm, labels[gbm.id][0])
    shown = repr(view).lower()
    assert "glioblastoma" not in shown and "胶质母细胞瘤" not in shown and "gbm" not in shown
    assert view.title.en == labels[gbm.id][1] and view.citation == gbm.citation and view.series == ()
    # another seed numbers them differently
    assert unknown_labels(cat, seed="other") != labels


def test_search_counts_tags_over_the_whole_filtered_set(library_catalog):
    from collections import Counter

    lib, cat = library_catalog
    rows = {r.case_id: r for r in search_cases(cat, limit=1000).rows}
    counts = Counter(t for r in rows.values() for t in set(r.tags))
    everything = search_cases(cat, limit=1000)
    assert everything.facets["tags"] == dict(counts) and counts["ultrasound"] >= 5
    assert list(everything.facets["tags"].values()) == sorted(counts.values(), reverse=True)
    # a page of two counts the whole filtered set, not the page
    page = search_cases(cat, limit=2, offset=3)
    assert len(page.rows) == 2 and page.facets["tags"] == everything.facets["tags"]
    # filters narrow the counts: every case kept carries the tag
    us = search_cases(cat, tags="ultrasound", limit=1)
    assert us.facets["tags"]["ultrasound"] == us.total == counts["ultrasound"]
    assert us.facets["tags"].get("calibration") == sum(
        {"ultrasound", "calibration"} <= set(r.tags) for r in rows.values())
    assert "follow-up" not in us.facets["tags"]
    # text search and unknown mode count too
    hu = search_cases(cat, "HU", limit=1)
    assert hu.facets["tags"]["HU"] <= hu.total
    blind = search_cases(cat, organ_system="cardiovascular", unknown=True, seed="s", limit=1)
    assert blind.facets["tags"] == dict(Counter(t for r in rows.values() if r.organ_system.value == "cardiovascular"
                                                for t in set(r.tags)))
    assert search_cases(cat, tags="no-such-tag").facets["tags"] == {}
