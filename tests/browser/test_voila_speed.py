"""caselib's Voila template (caselib/ui/apps/voila_template) and the serve settings for it.

The pages of the classroom apps are served with a template based on Voila's
"lab" page that fetches nothing from third-party hosts (Voila's lab page loads
two Font Awesome stylesheets from cdn.jsdelivr.net that hold back the first
render; the icons come from Voila's own voila-style.js) and preloads the page's
JupyterLab extensions.  The browser tests check the served page really is
caselib's, that every request stays on the Voila server, that the preloads are
the extension files the page then uses, that the widgets' Font Awesome icons
still render, and that the four apps become interactive with it.
bench/voila_first_render.py measures the speed; no time is asserted here.
"""
from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import nbformat
import pytest

from caselib.ui.apps.serve import (
    APPS,
    TEMPLATE,
    apps_dir,
    load_voila_config,
    template_root,
    voila_args,
    voila_command,
    voila_env,
)

TIMEOUT_MS = 90_000
SWITCH = ".cl-app .cl-language button"

#: the Font Awesome icons the apps' buttons use (caselib/ui/apps: browser.py, quiz.py)
APP_ICONS = ("search", "image", "arrow-left", "arrow-right")

#: a small page with the widgets whose assets the template must keep: the icon buttons, the switch
ICON_NOTEBOOK = f"ICONS = {list(APP_ICONS)!r}\n" + """import ipywidgets as w
switch = w.ToggleButtons(options=['中文', 'English'])
switch.add_class('cl-language')
icons = [w.Button(icon=name, description=name) for name in ICONS]
for button in icons:
    button.add_class('cl-icon')
app = w.VBox([switch, *icons])
app.add_class('cl-app')
app"""


def template_server_env() -> dict[str, str]:
    return {"JUPYTER_PATH": voila_env()["JUPYTER_PATH"]}


# ---- serve.py (no browser) -------------------------------------------------------------

def test_the_template_is_found_on_the_jupyter_path_voila_env_builds(monkeypatch):
    folder = template_root() / "voila" / "templates" / TEMPLATE
    assert (folder / "index.html.j2").is_file()
    assert json.loads((folder / "conf.json").read_text()) == {"base_template": "lab"}
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(["/elsewhere", str(template_root())]))
    paths = voila_env()["JUPYTER_PATH"].split(os.pathsep)
    assert paths == [str(template_root()), "/elsewhere"]          # first, once, the rest kept
    assert voila_env({"PATH": "/bin"}) == {"PATH": "/bin", "JUPYTER_PATH": str(template_root())}


def test_voila_args_name_the_template_only_when_asked():
    assert f"--VoilaConfiguration.template={TEMPLATE}" in voila_args(template=True)
    assert not any(a.startswith("--VoilaConfiguration.template=") for a in voila_args())
    assert f"--VoilaConfiguration.template={TEMPLATE}" in voila_command(port=1234)


def test_the_pool_is_refilled_after_the_page_has_rendered():
    """A replacement kernel started 0.5 s after a page took its kernel competed with that page's render."""
    config = load_voila_config()
    assert config["VoilaKernelManager"]["fill_delay"] >= 2.0
    assert "--VoilaKernelManager.fill_delay=2.0" in voila_args()


# ---- the served page (browser) ---------------------------------------------------------

@pytest.fixture(scope="module")
def icon_voila(jupyter_servers, tmp_path_factory):
    root = tmp_path_factory.mktemp("template-page")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(ICON_NOTEBOOK)]
    nbformat.write(nb, root / "icons.ipynb")
    return jupyter_servers("voila", root, args=voila_args(preheat=False, template=True, folder=apps_dir()),
                           env=template_server_env())


def open_page(browser, server, path):
    """A fresh context (cold cache) on ``path``; returns (context, page, requested URLs, console errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url_for(path), timeout=TIMEOUT_MS)
    page.wait_for_selector(SWITCH, state="visible", timeout=TIMEOUT_MS)
    return context, page, requested, errors


@pytest.mark.browser
def test_the_page_is_caselibs_and_fetches_nothing_from_other_hosts(chromium_browser, icon_voila, artifact_dir):
    context, page, requested, errors = open_page(chromium_browser, icon_voila, "voila/render/icons.ipynb")
    try:
        assert page.locator('meta[name="caselib-voila-template"]').get_attribute("content") == TEMPLATE
        hosts = {urlsplit(u).netloc for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
        assert hosts == {f"127.0.0.1:{icon_voila.port}"}, f"requests left the Voila server: {sorted(hosts)}"
        assert f"/voila/templates/{TEMPLATE}/static/voila-style.js" in " ".join(requested)
        assert not [e for e in errors if "Font Awesome" in e or "cdn.jsdelivr" in e]
        page.screenshot(path=str(artifact_dir / "icons.png"))
    finally:
        context.close()


@pytest.mark.browser
def test_the_preloaded_extensions_are_the_ones_the_page_loads(chromium_browser, icon_voila):
    context, page, requested, _ = open_page(chromium_browser, icon_voila, "voila/render/icons.ipynb")
    try:
        preloads = page.eval_on_selector_all('link[rel="preload"][data-caselib-preload="labextension"]',
                                             "links => links.map(l => l.href)")
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        names = {e["name"] for e in config["federated_extensions"]}
        assert names == {"@voila-dashboards/widgets-manager8", "@jupyter-widgets/jupyterlab-manager", "anywidget"}
        assert len(preloads) == len(names)
        remote_entries = [u for u in requested if "/voila/labextensions/" in u and "/remoteEntry." in u]
        # each preloaded file is the one the page's loader asks for, fetched once (the preload is used)
        assert sorted(remote_entries) == sorted(preloads), (remote_entries, preloads)
    finally:
        context.close()


@pytest.mark.browser
def test_font_awesome_icons_still_render_without_the_cdn(chromium_browser, icon_voila):
    context, page, _, _ = open_page(chromium_browser, icon_voila, "voila/render/icons.ipynb")
    try:
        page.locator(f".cl-icon i.fa-{APP_ICONS[-1]}").wait_for(state="attached", timeout=TIMEOUT_MS)
        page.wait_for_function("document.fonts.status === 'loaded'", timeout=TIMEOUT_MS)
        for name in APP_ICONS:
            glyph = page.locator(f".cl-icon i.fa-{name}").evaluate("""el => {
                const s = getComputedStyle(el, '::before');
                return {family: s.fontFamily, content: s.content, width: el.getBoundingClientRect().width,
                        loaded: [...document.fonts].some(f => /awesome/i.test(f.family) && f.status === 'loaded')};
            }""")
            assert "awesome" in glyph["family"].lower(), (name, glyph)
            assert glyph["content"] not in ("none", "normal", '""'), (name, glyph)
            assert glyph["width"] > 0 and glyph["loaded"], (name, glyph)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_four_apps_become_interactive_with_the_template(chromium_browser, jupyter_servers):
    server = jupyter_servers("voila", apps_dir(), args=voila_args(preheat=False, template=True),
                             env=template_server_env())
    for app in APPS:
        context, page, requested, errors = open_page(chromium_browser, server, f"voila/render/{app}.ipynb")
        try:
            assert page.locator('meta[name="caselib-voila-template"]').count() == 1
            hosts = {urlsplit(u).netloc for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
            assert hosts == {f"127.0.0.1:{server.port}"}, (app, sorted(hosts))
            # interactive: the other language is selected by a click and the kernel answers with the new text
            before = page.locator(".cl-app").inner_text()
            page.locator(SWITCH).filter(has_not=page.locator(".mod-active")).last.click()
            page.wait_for_function("t => document.querySelector('.cl-app').innerText !== t", arg=before,
                                   timeout=TIMEOUT_MS)
            assert not [e for e in errors if "Failed to load" in e or "Error" in e], (app, errors)
        finally:
            context.close()


@pytest.mark.browser
def test_demo_serve_pages_use_the_template_inside_jupyterlab(jupyter_servers, tmp_path, monkeypatch):
    """`caselib demo serve` runs Voila as JupyterLab's server extension: the arguments and the
    environment serve_command gives the server (it sets this process's environment, then execs)
    must bring caselib's template there too, not only to the standalone Voila."""
    import urllib.request

    from caselib.demo import ARCHIVE_ENV, DEMO_APP, serve_command

    monkeypatch.setenv("JUPYTER_PATH", "")               # restored after the test
    monkeypatch.setenv(ARCHIVE_ENV, "")
    monkeypatch.setenv("CASELIB_USAGE_LOG", "off")
    cmd = serve_command(tmp_path / "archive", port=0, notebooks=apps_dir().parent / "notebooks")
    template_args = [a for a in cmd if a.startswith("--VoilaConfiguration.")]
    assert template_args == [f"--VoilaConfiguration.template={TEMPLATE}"]
    server = jupyter_servers("lab", apps_dir().parent, args=template_args)   # inherits os.environ
    with urllib.request.urlopen(server.url_for(f"voila/render/{DEMO_APP}"), timeout=120) as response:
        html = response.read().decode("utf-8", "replace")
    assert response.status == 200
    assert 'name="caselib-voila-template"' in html
    assert "cdn.jsdelivr.net" not in html
