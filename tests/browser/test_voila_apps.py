"""The four classroom apps in Voila, driven by Debian chromium (playwright).

One Voila server (preheated kernels and culling from voila_apps/voila.json)
serves the real app notebooks.  Each app loads, becomes interactive (a click
goes to the kernel and comes back), is usable at phone size (375 x 812) and by
keyboard, and switches between zh-CN and English.  In the PBL and quiz apps
no later-stage text or answer explanation appears in the page HTML or in any
websocket frame before it is unlocked; the same capture then sees it after
unlocking, so the capture itself is proven to work.  Screenshots are kept in
test-artifacts/.
"""
from __future__ import annotations

import html
import json

import pytest

from caselib.i18n import t
from caselib.ui.apps import open_library
from caselib.ui.apps.serve import APPS, apps_dir, voila_args, voila_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 375, "height": 812}
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def voila(jupyter_servers):
    return jupyter_servers("voila", apps_dir(), args=voila_args(preheat=True, template=True),
                           env={"JUPYTER_PATH": voila_env()["JUPYTER_PATH"]})


@pytest.fixture(scope="module")
def library():
    return open_library()


class Capture:
    """The page's HTML responses and every websocket frame it receives."""

    def __init__(self, page):
        self.frames: list[str] = []
        self.documents: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("response", self._response)

    def _frame(self, payload):
        self.frames.append(payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload)

    def _response(self, response):
        if "text/html" in (response.headers.get("content-type") or ""):
            try:
                self.documents.append(response.text())
            except Exception:  # noqa: BLE001 - a redirect has no body
                pass

    def text(self, page) -> str:
        return "\n".join(self.documents + self.frames + [page.content()])


def variants(secret: str) -> set[str]:
    """The forms a text can take on the wire: raw, HTML-escaped, JSON-escaped (ASCII or not)."""
    out = {secret, html.escape(secret)}
    for s in list(out):
        out |= {json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1]}
    return out


def leaked(haystack: str, secrets) -> list[str]:
    return [s for s in secrets if any(v in haystack for v in variants(s))]


def open_app(browser, voila, name, *, viewport=PHONE):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    capture = Capture(page)
    page.goto(voila.url_for(f"voila/render/{name}.ipynb"), timeout=TIMEOUT_MS)
    page.wait_for_selector(".cl-app .cl-language button", state="visible", timeout=TIMEOUT_MS)
    return context, page, capture


def switch_language(page, label: str):
    page.locator(".cl-language button", has_text=label).click()


@pytest.mark.parametrize("name", APPS)
def test_app_loads_is_interactive_and_fits_a_phone(chromium_browser, voila, artifact_dir, name):
    context, page, _ = open_app(chromium_browser, voila, name)
    try:
        page.screenshot(path=str(artifact_dir / f"{name}-phone-zh.png"), full_page=True)
        # nothing wider than the phone: no sideways scrolling of the app
        width = page.evaluate("() => Math.ceil(document.querySelector('.cl-app').getBoundingClientRect().right)")
        assert width <= PHONE["width"], f"{name} is {width}px wide on a {PHONE['width']}px phone"
        # interactive: the switch goes to the kernel and the kernel re-labels the app
        english_label = {"case_browser_app": t("apps.browser.pick_case", "en"),
                         "windowing_demo_app": t("apps.windowing.explain", "en")[:30],
                         "pbl_session_app": t("apps.pbl.next", "en"),
                         "quiz_app": t("apps.quiz.check", "en")}[name]
        assert english_label not in page.locator(".cl-app").inner_text()
        switch_language(page, "English")
        app = page.locator(".cl-app")
        app.get_by_text(english_label).first.wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / f"{name}-phone-en.png"), full_page=True)
        switch_language(page, "中文")
        app.get_by_text(english_label).first.wait_for(state="detached", timeout=TIMEOUT_MS)
    finally:
        context.close()


def test_language_switch_works_by_keyboard(chromium_browser, voila):
    context, page, _ = open_app(chromium_browser, voila, "quiz_app")
    try:
        page.locator("body").click(position={"x": 5, "y": 5})
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("() => (document.activeElement.textContent || '').trim()") == "English":
                break
        else:
            pytest.fail("Tab never reached the English button")
        page.keyboard.press("Enter")
        page.get_by_text(t("apps.quiz.check", "en")).first.wait_for(timeout=TIMEOUT_MS)
    finally:
        context.close()


def test_case_browser_opens_a_case_scrolls_it_and_reveals_on_demand(chromium_browser, voila, library, artifact_dir):
    case = library.case("tcia-lung-ct-a0002")
    context, page, _ = open_app(chromium_browser, voila, "case_browser_app", viewport={"width": 1200, "height": 900})
    try:
        page.locator("button.cl-case-button", has_text=case.title.zh).first.click()
        page.wait_for_selector(".cl-viewer canvas", timeout=TIMEOUT_MS)
        page.get_by_text(case.history.zh[:20]).first.wait_for(timeout=TIMEOUT_MS)
        slider = page.locator(".cl-viewer [data-role=slider]")
        before = slider.input_value()
        page.locator(".cl-viewer .cl-viewport").hover()
        for _ in range(5):
            page.mouse.wheel(0, 120)
        page.wait_for_function("(v) => document.querySelector('.cl-viewer [data-role=slider]').value !== v",
                               arg=before, timeout=TIMEOUT_MS)
        center = page.locator(".cl-viewer [data-role=center]")
        level_before = center.input_value()
        page.locator(".cl-viewer .cl-viewport").focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(v) => document.querySelector('.cl-viewer [data-role=center]').value !== v",
                               arg=level_before, timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "case-open.png"))
        # findings and diagnosis only on demand
        discussion = case.discussion.zh[:20]
        assert discussion not in page.content()
        page.locator("button", has_text=t("apps.browser.show_diagnosis", "zh-CN")).click()
        page.get_by_text(discussion).first.wait_for(timeout=TIMEOUT_MS)
    finally:
        context.close()


def test_pbl_later_stages_never_reach_the_browser_before_unlock(chromium_browser, voila, library, artifact_dir):
    case = library.pbl_case("pbl-synthetic-phantom-nodule")
    later = [s for st in case.stages[1:] for s in (st.title.zh, st.title.en, st.text.zh, st.text.en)]
    later += [s for st in case.stages[1:] for q in st.prompts for s in (q.prompt.zh, q.prompt.en)]
    explanations = [s for st in case.stages for q in st.prompts if q.explanation
                    for s in (q.explanation.zh, q.explanation.en)]
    secrets = [s for s in later + explanations if len(s) >= 8]
    context, page, capture = open_app(chromium_browser, voila, "pbl_session_app")
    try:
        page.get_by_text(case.stages[0].text.zh[:20]).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)            # let every pending frame arrive
        assert capture.frames, "no websocket frame was captured"
        assert not leaked(capture.text(page), secrets), "later-stage text reached the browser before unlock"
        # unlock stage 2 through the page, as a student does
        inputs = page.locator(".cl-app input[type=text]")
        inputs.nth(0).fill("-600")
        inputs.nth(1).fill("1500")
        page.locator("button", has_text=t("apps.quiz.check", "zh-CN")).click()
        page.get_by_text(t("apps.quiz.correct", "zh-CN")).first.wait_for(timeout=TIMEOUT_MS)
        page.locator("button", has_text=t("apps.pbl.next", "zh-CN")).click()
        page.get_by_text(case.stages[1].text.zh[:20]).first.wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "pbl-stage2-phone.png"), full_page=True)
        seen = capture.text(page)
        assert leaked(seen, [case.stages[1].text.zh]), "the capture did not see the unlocked stage"
        assert not leaked(seen, [s for st in case.stages[2:] for s in (st.text.zh, st.text.en)])
    finally:
        context.close()


def test_quiz_answers_never_reach_the_browser_before_checking(chromium_browser, voila, library, artifact_dir):
    items = library.quiz_items()
    secrets = [s for i in items if i.question.explanation
               for s in (i.question.explanation.zh, i.question.explanation.en) if len(s) >= 8]
    target = next(n for n, i in enumerate(items)
                  if i.question.explanation and i.question.kind in ("single_choice", "true_false"))
    question = items[target].question
    context, page, capture = open_app(chromium_browser, voila, "quiz_app")
    try:
        for n in range(target):
            page.locator("button", has_text=t("apps.quiz.next", "zh-CN")).click()
            page.get_by_text(t("apps.quiz.counter", "zh-CN", n=n + 2, m=len(items))).wait_for(timeout=TIMEOUT_MS)
        page.get_by_text(question.prompt.zh[:15]).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)
        assert capture.frames, "no websocket frame was captured"
        assert not leaked(capture.text(page), secrets), "an answer explanation reached the browser before checking"
        if question.kind == "single_choice":
            page.locator(".cl-app .widget-radio-box label").nth(question.answer).click()
        else:
            page.locator(".cl-app button", has_text=t("apps.quiz.true" if question.answer else "apps.quiz.false",
                                                      "zh-CN")).click()
        page.locator("button", has_text=t("apps.quiz.check", "zh-CN")).click()
        page.get_by_text(t("apps.quiz.correct", "zh-CN")).first.wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "quiz-feedback-phone.png"), full_page=True)
        assert leaked(capture.text(page), [question.explanation.zh]), "the explanation was not shown after checking"
    finally:
        context.close()


def test_quiz_hotspot_is_marked_by_keyboard_and_its_region_stays_in_the_kernel(chromium_browser, voila, library,
                                                                              artifact_dir):
    """A hotspot question: its image in the viewer, the point marked by keyboard only (Alt+arrows,
    Enter), checked at once; the answer region reaches the page only after checking."""
    items = library.quiz_items()
    target = next(n for n, i in enumerate(items) if i.question.kind == "hotspot")
    q = items[target].question
    series = library.series_for(q.series)
    radius_px = q.roi.radius_mm / q.pixel_spacing[0]          # what the revealed region carries
    secrets = ["tolerance_mm", "radius_mm", json.dumps(q.roi.to_dict())[1:-1], repr(radius_px)]
    if q.explanation is not None:
        secrets += [q.explanation.zh, q.explanation.en]
    context, page, capture = open_app(chromium_browser, voila, "quiz_app", viewport={"width": 1200, "height": 900})
    try:
        for n in range(target):
            page.locator("button", has_text=t("apps.quiz.next", "zh-CN")).click()
            page.get_by_text(t("apps.quiz.counter", "zh-CN", n=n + 2, m=len(items))).wait_for(timeout=TIMEOUT_MS)
        page.get_by_text(q.prompt.zh[:15]).first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_text(t("apps.quiz.hotspot.keyboard", "zh-CN")[:12]).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_selector(".cl-viewer canvas", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)
        assert capture.frames, "no websocket frame was captured"
        assert not leaked(capture.text(page), secrets), "the hotspot region reached the browser before checking"
        # keyboard only: focus the image, point tool (k), move the cross from the image centre, Enter
        viewport = page.locator(".cl-viewer .cl-viewport")
        viewport.focus()
        page.keyboard.press("k")
        row, col = (series.rows - 1) / 2, (series.columns - 1) / 2
        for delta, key in ((q.roi.row - row, ("ArrowDown", "ArrowUp")), (q.roi.col - col, ("ArrowRight", "ArrowLeft"))):
            name = key[0] if delta > 0 else key[1]
            tens, ones = divmod(round(abs(delta)), 10)
            for _ in range(tens):
                page.keyboard.press(f"Alt+Shift+{name}")
            for _ in range(ones):
                page.keyboard.press(f"Alt+{name}")
        page.keyboard.press("Enter")
        page.wait_for_selector(".cl-viewer [data-role=marks] li", timeout=TIMEOUT_MS)
        page.locator("button", has_text=t("apps.quiz.check", "zh-CN")).click()
        page.get_by_text(t("apps.quiz.correct", "zh-CN")).first.wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifact_dir / "quiz-hotspot-checked.png"))
        assert leaked(capture.text(page), [repr(radius_px)]), "the region was not drawn after checking"
    finally:
        context.close()
