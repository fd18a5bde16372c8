"""The case browser app in Voila on a de-identified archive, as `caselib demo serve` runs it.

The server gets the environment `caselib demo serve` builds (``CASELIB_ARCHIVE``); a small archive
is built by the demo build itself.  The page receives the archive's series (its remapped UID),
never the source file's UID; a case whose series the archive lacks says so on the page.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from caselib.catalog import Catalog
from caselib.data import fetch
from caselib.demo import build_demo_archive, serve_environment
from ingest_fixtures import fixed_archive_secret
from caselib.dicom import read
from caselib.i18n import t
from caselib.ui.apps import open_library
from caselib.ui.apps.serve import apps_dir, voila_args, voila_env

from .test_voila_apps import TIMEOUT_MS, leaked, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CASES = Path(__file__).resolve().parents[2] / "cases"
LEG = "pydicom-data/RG3_UNCI.dcm"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("voila-archive") / "archive"
    fixed_archive_secret(root)  # see ingest_fixtures: a random one refuses RG3_UNCI 1 time in ~3,300
    report = build_demo_archive(root, progress=False, workers=1, keys=[LEG], cases=[CASES])
    assert report.ingest.quarantined == 0
    return root


@pytest.fixture(scope="module")
def voila_on_archive(jupyter_servers, archive):
    return jupyter_servers("voila", apps_dir(), args=voila_args(preheat=False, template=True),
                           env=serve_environment(archive, {}))


def test_case_browser_shows_the_archive_series_and_names_missing_ones(chromium_browser, voila_on_archive, archive,
                                                                      artifact_dir):
    library = open_library(archive=False)
    leg, pelvis = library.case("nema-rg3-leg-cr"), library.case("us-pelvis-dual-image-regions")
    with Catalog.open(archive, readonly=True) as cat:
        (archive_uid,) = cat.series_for_source(LEG)
    source_uid = read(fetch(LEG)).only_series().series_instance_uid
    assert archive_uid != source_uid
    context, page, capture = open_app(chromium_browser, voila_on_archive, "case_browser_app",
                                      viewport={"width": 1200, "height": 900})
    try:
        page.locator("button.cl-case-button", has_text=leg.title.zh).first.click()
        page.wait_for_selector(".cl-viewer canvas", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)
        seen = capture.text(page)
        assert leaked(seen, [archive_uid]), "the page did not receive the archive's series"
        assert not leaked(seen, [source_uid]), "the page received the source file's UID"
        page.screenshot(path=str(artifact_dir / "archive-case.png"))
        page.locator("button.cl-case-button", has_text=pelvis.title.zh).first.click()
        message = t("apps.archive.series_missing", "zh-CN", archive=archive.name)
        page.get_by_text(message[:12]).first.wait_for(timeout=TIMEOUT_MS)
        assert message in page.locator(".cl-unavailable").inner_text()
        page.get_by_text(pelvis.history.zh[:15]).first.wait_for(timeout=TIMEOUT_MS)   # the write-up stays
        page.locator(".cl-language button", has_text="English").click()
        page.get_by_text(t("apps.archive.series_missing", "en", archive=archive.name)[:30]).first.wait_for(
            timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "archive-missing-series.png"))
    finally:
        context.close()
