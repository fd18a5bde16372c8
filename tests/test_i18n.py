"""The interface message catalogue: completeness, fallback, languages, generated labels."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import caselib.i18n as i18n
from caselib.catalog import Difficulty, OrganSystem
from caselib.i18n import Catalogue, missing_translations, t

MESSAGES = Path(i18n.__file__).parent / "messages"

REQUIRED = [
    "viewer.window", "viewer.level", "viewer.presets", "viewer.invert", "viewer.reset",
    "viewer.zoom", "viewer.pan", "viewer.probe", "viewer.distance", "viewer.roi",
    "viewer.play", "viewer.pause", "viewer.slice", "viewer.show_annotations",
    "viewer.hide_annotations", "browser.search", "browser.organ_system", "browser.modality",
    "browser.difficulty", "quiz.submit", "quiz.correct", "quiz.incorrect", "quiz.score",
    "pbl.next_stage", "pbl.locked", "pbl.answer_all_first",
]


@pytest.fixture(autouse=True)
def _restore_language():
    before = i18n.get_language()
    yield
    i18n.set_language(before)


def test_no_missing_translations():
    missing = missing_translations()
    if missing:
        lines = [f"{lang}: {', '.join(keys)}" for lang, keys in missing.items()]
        pytest.fail("keys without a translation:\n" + "\n".join(lines))


def test_placeholders_agree_between_languages():
    assert i18n.default_catalogue().placeholder_mismatches() == {}


def test_required_keys_present_and_catalogue_size():
    cat = i18n.default_catalogue()
    for lang in i18n.LANGUAGES:
        absent = [k for k in REQUIRED if k not in cat.messages(lang)]
        assert not absent, (lang, absent)
    file_keys = json.loads((MESSAGES / "en.json").read_text(encoding="utf-8"))
    assert len(file_keys) >= 40


def test_message_files_have_the_same_keys_and_real_chinese():
    en = json.loads((MESSAGES / "en.json").read_text(encoding="utf-8"))
    zh = json.loads((MESSAGES / "zh-CN.json").read_text(encoding="utf-8"))
    assert set(en) == set(zh)
    han = re.compile(r"[\u4e00-\u9fff]")
    # every zh-CN string but pure units/abbreviations contains Chinese characters
    not_chinese = [k for k, v in zh.items() if not han.search(v) and k != "viewer.distance_value"]
    assert not_chinese == []
    assert zh["viewer.window"] == "窗宽" and zh["viewer.level"] == "窗位"


@pytest.mark.parametrize("key, zh, en", [
    ("viewer.invert", "反相", "Invert"),
    ("viewer.zoom", "缩放", "Zoom"),
    ("viewer.pan", "平移", "Pan"),
    ("viewer.distance", "测距", "Distance"),
    ("viewer.roi", "感兴趣区", "ROI"),
    ("viewer.play", "播放", "Play"),
    ("viewer.pause", "暂停", "Pause"),
])
def test_terms(key, zh, en):
    assert t(key) == zh
    assert t(key, "en") == en


def test_params_and_format_specs():
    assert t("viewer.slice", n=3, m=40) == "第 3/40 层"
    assert t("viewer.slice", lang="en", n=3, m=40) == "Slice 3 of 40"
    assert t("viewer.distance_value", "en", mm=12.345) == "12.3 mm"
    assert t("quiz.score", "en", score=3, max_score=5) == "Score: 3/5"
    assert t("pbl.answer_all_first", remaining=2) == "请先回答本阶段的全部问题（还剩 2 题）"


def test_missing_parameter_names_the_key():
    with pytest.raises(KeyError, match="viewer.slice.*'m'"):
        t("viewer.slice", "en", n=1)


def test_default_language_and_override():
    assert i18n.get_language() == "zh-CN"
    i18n.set_language("en")
    assert i18n.get_language() == "en"
    assert t("quiz.submit") == "Submit"
    assert t("quiz.submit", "zh-CN") == "提交"
    assert i18n.text_lang() == "en"
    i18n.set_language("zh")
    assert i18n.get_language() == "zh-CN" and t("quiz.submit") == "提交"
    assert i18n.text_lang() == "zh"


@pytest.mark.parametrize("tag, code", [("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("zh-Hans", "zh-CN"),
                                       ("en-US", "en"), ("EN", "en")])
def test_language_aliases(tag, code):
    assert i18n.normalize_language(tag) == code


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="zh-CN, en"):
        i18n.set_language("fr")
    with pytest.raises(ValueError):
        t("quiz.submit", "de")


def test_organ_systems_and_difficulty_come_from_the_catalog():
    for s in OrganSystem:
        assert t(f"organ_system.{s.value}", "en") == s.label_en
        assert t(f"organ_system.{s.value}", "zh-CN") == s.label_zh
    for d in Difficulty:
        assert t(f"difficulty.{d.value}") == d.label_zh
    assert t("organ_system.respiratory") == "呼吸系统"
    # they are generated, not duplicated in the message files
    en = json.loads((MESSAGES / "en.json").read_text(encoding="utf-8"))
    assert not [k for k in en if k.startswith(("organ_system.", "difficulty.", "preset."))]


def test_presets_come_from_imaging():
    assert t("preset.lung") == "肺窗"
    assert t("preset.bone", "en") == "Bone"


def test_visible_fallback_is_recorded():
    cat = Catalogue({"en": {"a": "Alpha {x}", "b": "Beta"}, "zh-CN": {"a": "甲 {x}"}})
    assert cat.missing_translations() == {"zh-CN": ["b"]}
    assert cat.t("b", "zh-CN") == "⟦en: Beta⟧"
    assert cat.t("a", "zh-CN", x=1) == "甲 1"
    assert cat.t("nope", "en") == "⟦nope⟧"
    assert cat.missing_translations() == {"zh-CN": ["b", "nope"], "en": ["nope"]}


def test_missing_english_is_reported_too():
    cat = Catalogue({"en": {}, "zh-CN": {"only.zh": "仅中文"}})
    assert cat.missing_translations() == {"en": ["only.zh"]}
    assert cat.t("only.zh", "en") == "⟦only.zh⟧"


def test_catalogue_refuses_empty_strings():
    with pytest.raises(ValueError, match="non-empty"):
        Catalogue({"en": {"a": " "}})


def test_import_is_light():
    code = ("import sys, caselib.i18n as i; i.t('quiz.submit'); "
            "print(any(m in sys.modules for m in ('ipywidgets', 'pandas', 'pydicom')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
