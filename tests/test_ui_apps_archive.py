"""The classroom apps on a de-identified archive (issue 6): what `caselib demo build` records, and
what the apps show when they are opened with the archive (``CASELIB_ARCHIVE``).

A small real archive is built through the demo build itself (the ingest pipeline: de-identification,
verification, JPEG-LS, catalog, keyring) from a leg CR, a prior/current chest CT pair and the
synthetic phantoms of the teaching cases; every other case's series is absent, as the ultrasound
cases are from the real demo set.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from caselib.archive import ArchiveLayout
from caselib.cases import keyring_for_archive, load_library
from caselib.catalog import Catalog
from caselib.data import fetch
from caselib.demo import ARCHIVE_ENV, build_demo_archive, serve_command, serve_environment
from caselib.dicom import read
from caselib.i18n import t
from caselib.phantom import build_case_phantom
from caselib.ui.apps import CaseBrowser, PBLPlayer, Quiz, WindowingDemo, open_library
from caselib.ui.apps.library import ArchiveSeries, SeriesNotInArchive, archive_from_env
from ingest_fixtures import fixed_archive_secret

CASES = Path(__file__).resolve().parents[1] / "cases"
LEG = "pydicom-data/RG3_UNCI.dcm"
COVID = ("tcia-covid-ct-followup/A002304/axial/19001231-076.dcm",
         "tcia-covid-ct-followup/A002304/axial/19010112-135.dcm")
IN_ARCHIVE = {"nema-rg3-leg-cr", "tcia-covid-sbu-a002304-followup", "synthetic-phantom-nodule-size",
              "synthetic-phantom-hu-drill"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    archive = tmp_path_factory.mktemp("apps-archive") / "archive"
    fixed_archive_secret(archive)  # see ingest_fixtures: a random one refuses RG3_UNCI 1 time in ~3,300
    report = build_demo_archive(archive, progress=False, workers=1, keys=[LEG, *COVID], cases=[CASES])
    assert report.ingest.quarantined == 0, report.ingest.problems
    return archive, report


@pytest.fixture(autouse=True)
def no_usage_log(monkeypatch):
    monkeypatch.setenv("CASELIB_USAGE_LOG", "off")
    monkeypatch.delenv(ARCHIVE_ENV, raising=False)


@pytest.fixture()
def library(built):
    return open_library(archive=built[0])


def test_demo_build_records_manifest_keys_and_links_the_cases(built):
    archive, report = built
    assert report.n_files == 3 and report.n_phantoms == 2
    with Catalog.open(archive, readonly=True) as cat:
        (leg_uid,) = cat.series_for_source(LEG)
        covid = [cat.series_for_source(k) for k in COVID]
        assert all(len(u) == 1 for u in covid) and covid[0] != covid[1]
        # the cases are linked to the archive's series: manifest keys, and phantoms through the keyring
        assert cat.get_case("nema-rg3-leg-cr").series_uids == (leg_uid,)
        assert cat.get_case("tcia-covid-sbu-a002304-followup").series_uids == (covid[0][0], covid[1][0])
        phantom = load_library(CASES).get("synthetic-phantom-nodule-size")
        original = phantom.series[0].series_uid
        assert not cat.has_series(original)
        assert cat.get_case(phantom.id).series_uids == (keyring_for_archive(archive).uid(original),)
    linked = {r.case_id for r in report.cases if r.complete}
    assert linked == IN_ARCHIVE
    assert report.cases_missing["tcia-lung-ct-a0002"] == ("tcia-lung-ct",)
    assert "us-pelvis-dual-image-regions" in report.cases_missing
    assert f"linked to the archive: {len(IN_ARCHIVE)} of {len(report.cases)}" in report.summary()


def test_a_case_opened_on_the_archive_shows_the_archive_object(built, library):
    archive, _ = built
    layout = ArchiveLayout.at(archive)
    series = library.series("nema-rg3-leg-cr")
    source = read(fetch(LEG)).only_series()
    # the pixels: the archive's file (JPEG-LS, lossless) decodes to the source's values
    inst = series.instances[0]
    assert layout.objects in inst.path.parents
    assert np.array_equal(series.frame(0), source.frame(0))
    # the header: the archive's pseudonym and remapped UIDs, never the source's identifiers
    mine, theirs = inst.load_dataset(), source.instances[0].load_dataset()
    assert str(mine.PatientName).startswith("CL-") and str(mine.PatientID).startswith("CL-")
    assert str(mine.PatientName) != str(theirs.PatientName) and mine.PatientID != theirs.PatientID
    assert mine.StudyInstanceUID != theirs.StudyInstanceUID and mine.StudyInstanceUID.startswith("2.25.")
    assert series.series_instance_uid != source.series_instance_uid
    with Catalog.open(archive, readonly=True) as cat:
        assert cat.series_for_source(LEG) == [series.series_instance_uid]
    # what the browser's viewer is given is that series
    app = CaseBrowser(library, lang="en")
    app.open_case("nema-rg3-leg-cr")
    assert app.viewer is not None and app.unavailable is None
    assert app.viewer.source.series_uid == series.series_instance_uid
    assert str(theirs.PatientID) not in str(app.viewer.meta)


def test_synthetic_series_come_from_the_archive_with_or_without_the_keyring(built, library, tmp_path):
    archive, _ = built
    case = library.case("synthetic-phantom-nodule-size")
    original = case.series[0].series_uid
    series = library.series(case.id)
    assert series.series_instance_uid == keyring_for_archive(archive).uid(original)
    build_case_phantom(CASES / "synthetic" / "phantom-nodule-size", tmp_path / "phantom")
    truth = read(tmp_path / "phantom").only_series()
    assert np.array_equal(series.volume(), truth.volume())
    # a student's kernel cannot read private/: the case links written by the build still find it
    reader = ArchiveSeries(archive)
    reader.__dict__["keyring"] = None
    assert reader.series(case.series[0], case).series_instance_uid == series.series_instance_uid
    # the PBL player's stages name the phantom by its original UID
    player = PBLPlayer(library=library, lang="en")
    player.submit("p1-lung-window", (-600, 1500))
    player.advance()
    assert player.viewer is not None and player.viewer.source.series_uid == series.series_instance_uid


def test_cases_missing_from_the_archive_say_so_in_both_languages(library):
    message = {lang: t("apps.archive.series_missing", lang, archive="archive") for lang in ("en", "zh-CN")}
    with pytest.raises(SeriesNotInArchive, match=r"case 'tcia-lung-ct-a0002': series 'tcia-lung-ct' is not in "
                                                 r"the archive .*expected a series ingested from it, found none"):
        library.series("tcia-lung-ct-a0002")
    app = CaseBrowser(library, lang="en")
    app.open_case("us-pelvis-dual-image-regions")
    assert app.viewer is None and message["en"] in app.unavailable.value
    assert "role='status'" in app.unavailable.value
    case = library.case("us-pelvis-dual-image-regions")
    assert case.history.en[:20] in app.header.value          # the write-up is still there
    app.set_language("zh-CN")
    assert message["zh-CN"] in app.unavailable.value
    app.open_case("nema-rg3-leg-cr")                          # the next case shows its image again
    assert app.unavailable is None and app.viewer is not None
    # a hotspot question on a missing series cannot be answered, and says why
    item = next(i for i in library.quiz_items() if i.question.id == "click-trachea")
    quiz = Quiz([item], library=library, lang="en")
    assert quiz.viewer is None and message["en"] in quiz.unavailable.value and quiz.check_button.disabled
    # the windowing demo's data sets, when the archive lacks them
    demo = WindowingDemo(("tcia-lung-ct",), lang="en", archive=library.archive.root)
    assert demo.viewer is None and message["en"] in demo.unavailable.value


def test_a_missing_archive_is_named_not_a_crash(tmp_path):
    lib = open_library(archive=tmp_path / "nowhere")
    with pytest.raises(SeriesNotInArchive, match=r"cannot open the archive .*nowhere: expected its catalog"):
        lib.series("nema-rg3-leg-cr")
    app = CaseBrowser(lib, lang="en")
    app.open_case("nema-rg3-leg-cr")
    assert t("apps.archive.no_archive", "en", archive="nowhere") in app.unavailable.value


def test_the_archive_comes_from_the_environment_and_opens_lazily(built, monkeypatch):
    archive, _ = built
    assert archive_from_env() is None and open_library().archive is None    # no archive: as before
    monkeypatch.setenv(ARCHIVE_ENV, str(archive))
    lib = open_library()
    assert lib.archive is not None and lib.archive.root == archive.resolve()
    assert open_library() is lib
    assert open_library(archive=False).archive is None
    fresh = ArchiveSeries(archive)
    opened = []
    fresh.open_catalog = lambda real=fresh.open_catalog: opened.append(1) or real()
    lib.archive = fresh
    CaseBrowser(lib, lang="en")
    Quiz(library=lib, lang="en")
    assert not opened, "building an app opened the archive's catalog"
    lib.series("nema-rg3-leg-cr")
    assert opened


def test_demo_serve_gives_the_server_the_archive(tmp_path, monkeypatch):
    from caselib.ui.apps.serve import TEMPLATE, template_root

    monkeypatch.setenv(ARCHIVE_ENV, "before")
    monkeypatch.setenv("JUPYTER_PATH", "/elsewhere")   # serve_command prepends the template's root
    env = serve_environment(Path("some") / "archive", {"PATH": "/bin"})
    assert env == {"PATH": "/bin", ARCHIVE_ENV: str((Path("some") / "archive").resolve()),
                   "JUPYTER_PATH": str(template_root())}
    cmd = serve_command(tmp_path / "archive", port=1234, notebooks=CASES.parent / "notebooks")
    # `caselib demo serve` execs cmd with this process's environment: the server and its kernels
    # (Voila pages included) get the archive
    assert os.environ[ARCHIVE_ENV] == str((tmp_path / "archive").resolve())
    assert cmd[1] == "lab" and "--port=1234" in cmd
    # the Voila pages inside JupyterLab use caselib's template, found through JUPYTER_PATH
    assert f"--VoilaConfiguration.template={TEMPLATE}" in cmd
    assert os.environ["JUPYTER_PATH"].split(os.pathsep) == [str(template_root()), "/elsewhere"]
    assert (template_root() / "voila" / "templates" / TEMPLATE / "index.html.j2").is_file()


def test_a_rebuilt_demo_archive_keeps_its_links(built, tmp_path):
    """Re-running the build skips what is done (ingest journal) and re-links the same series."""
    archive, first = built
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    again = build_demo_archive(copy, progress=False, workers=1, keys=[LEG, *COVID], cases=[CASES])
    assert again.ingest.published == 0
    assert {r.case_id: r.series_uids for r in again.cases} == {r.case_id: r.series_uids for r in first.cases}


def test_cases_link_command_links_and_names_what_is_missing(built, tmp_path, capsys):
    """`caselib cases link DIR --archive A`: what a teacher runs on an archive of their own."""
    from caselib.cli import main

    archive, _ = built
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    assert main(["cases", "link", str(CASES), "--archive", str(copy)]) == 0
    out = capsys.readouterr().out
    linked = {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("linked ")}
    assert linked == IN_ARCHIVE
    assert "MISSING us-echo-caliper-calibration" in out and "not in the archive" in out
    total = len(load_library(CASES).cases)
    assert f"{len(IN_ARCHIVE)} of {total} cases have every series" in out
    assert main(["cases", "link", str(CASES), "--archive", str(tmp_path / "nothing")]) == 2
    assert "expected an archive with a catalog" in capsys.readouterr().err
