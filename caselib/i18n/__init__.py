"""One message catalogue for every interface string, in zh-CN and English.

>>> t("viewer.slice", n=3, m=40)
'第 3/40 层'
>>> t("viewer.slice", "en", n=3, m=40)
'Slice 3 of 40'
>>> t("organ_system.respiratory", "en")
'Respiratory system'

Where the strings live
----------------------
- ``caselib/i18n/messages/en.json`` and ``messages/zh-CN.json``, plus one
  pair ``messages/<area>.en.json`` / ``messages/<area>.zh-CN.json`` per UI
  area (a key may be defined in one file only): flat
  ``{key: text}`` mappings with :meth:`str.format` placeholders
  (``"第 {n}/{m} 层"``).  Keys are dotted, grouped by the part of the UI
  (``viewer.``, ``browser.``, ``quiz.``, ``pbl.``, ``common.``).
- Generated keys, so labels are written once, where the data is defined:
  ``organ_system.<code>`` from :class:`caselib.catalog.OrganSystem`,
  ``difficulty.<code>`` from :class:`caselib.catalog.Difficulty` and
  ``preset.<name>`` from :data:`caselib.imaging.PRESETS` (their
  ``label_en``/``label_zh``).

Languages
---------
``"zh-CN"`` (the default) and ``"en"``.  :func:`normalize_language` also
accepts ``"zh"``, ``"zh_CN"``, ``"zh-Hans"``, ``"en-US"`` and the like.
:func:`set_language` changes the module default; the ``lang`` argument of
:func:`t` overrides it for one call.  :func:`text_lang` maps a language to
the ``"zh"``/``"en"`` key of :class:`caselib.cases.Text`.

Missing translations
--------------------
Never silent, never a crash in front of a class:

- a key present in English but not in the requested language returns the
  English text wrapped as ``"⟦en: Next stage⟧"``;
- a key found in no language returns ``"⟦key⟧"``;

and both are recorded: :func:`missing_translations` returns
``{language: [keys]}`` for keys missing from a catalogue (found by comparing
the catalogues) plus keys that were asked for at run time and not found.
Languages with nothing missing are left out, so a complete catalogue gives
``{}``.  A missing format parameter is a programming error and raises
``KeyError`` naming the message key.
"""
from __future__ import annotations

import json
import string
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "LANGUAGES",
    "DEFAULT_LANGUAGE",
    "FALLBACK_LANGUAGE",
    "Catalogue",
    "t",
    "set_language",
    "get_language",
    "normalize_language",
    "text_lang",
    "missing_translations",
    "default_catalogue",
    "placeholders",
]

LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
FALLBACK_LANGUAGE = "en"

_ALIASES = {
    "zh": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN", "zh-hans": "zh-CN",
    "zh-hans-cn": "zh-CN", "zh_hans": "zh-CN", "cn": "zh-CN", "chinese": "zh-CN", "中文": "zh-CN",
    "en": "en", "en-us": "en", "en_us": "en", "en-gb": "en", "en_gb": "en", "english": "en",
}


def normalize_language(lang: str) -> str:
    """Return ``"zh-CN"`` or ``"en"`` for a language tag.

    Raises
    ------
    ValueError
        For a language the catalogue does not have (the message lists them).
    """
    if not isinstance(lang, str):
        raise TypeError(f"language must be a str, got {type(lang).__name__}")
    code = _ALIASES.get(lang.strip().lower())
    if code is None:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return code


def text_lang(lang: str | None = None) -> str:
    """The :class:`caselib.cases.Text` key (``"zh"``/``"en"``) for ``lang`` (default: current)."""
    return "zh" if normalize_language(lang or get_language()) == "zh-CN" else "en"


def placeholders(text: str) -> frozenset[str]:
    """Names of the :meth:`str.format` fields in ``text`` (``"{n:.1f}"`` -> ``{"n"}``)."""
    return frozenset(name.split(".")[0].split("[")[0]
                     for _, name, _, _ in string.Formatter().parse(text) if name)


class Catalogue:
    """Messages by language and key, with visible fallback and a record of misses.

    Parameters
    ----------
    messages : mapping
        ``{language: {key: text}}``; languages are normalised.
    """

    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        data: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        for lang, msgs in messages.items():
            code = normalize_language(lang)
            for key, text in msgs.items():
                if not isinstance(key, str) or not isinstance(text, str) or not text.strip():
                    raise ValueError(f"catalogue {code}: {key!r} must map a str key to a "
                                     f"non-empty str, got {text!r}")
                data[code][key] = text
        self._messages = {lang: MappingProxyType(d) for lang, d in data.items()}
        self._recorded: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}

    def messages(self, lang: str) -> Mapping[str, str]:
        """The read-only ``{key: text}`` of one language."""
        return self._messages[normalize_language(lang)]

    def keys(self) -> list[str]:
        """Every key of every language, sorted."""
        return sorted(set().union(*self._messages.values()))

    def t(self, key: str, lang: str | None = None, **params: Any) -> str:
        """Translate ``key`` into ``lang`` (default: the module language) and format it."""
        code = normalize_language(lang) if lang is not None else get_language()
        text = self._messages[code].get(key)
        if text is None:
            self._recorded[code].add(key)
            fallback = self._messages[FALLBACK_LANGUAGE].get(key)
            if fallback is None:
                for other in LANGUAGES:
                    self._recorded[other].add(key)
                return f"⟦{key}⟧"
            return f"⟦{FALLBACK_LANGUAGE}: {self._format(key, fallback, params)}⟧"
        return self._format(key, text, params)

    @staticmethod
    def _format(key: str, text: str, params: Mapping[str, Any]) -> str:
        try:
            return text.format(**params)
        except KeyError as exc:
            raise KeyError(f"message {key!r} needs the parameter {exc.args[0]!r}; "
                           f"it takes {sorted(placeholders(text))}") from None
        except (IndexError, ValueError) as exc:
            raise ValueError(f"message {key!r} could not be formatted with {dict(params)!r}: "
                             f"{exc}") from None

    def missing_translations(self) -> dict[str, list[str]]:
        """``{language: [keys]}`` missing from the catalogue or asked for and not found."""
        every = set(self.keys())
        out = {}
        for lang in LANGUAGES:
            miss = (every - set(self._messages[lang])) | self._recorded[lang]
            if miss:
                out[lang] = sorted(miss)
        return out

    def placeholder_mismatches(self) -> dict[str, dict[str, list[str]]]:
        """Keys whose languages use different format fields: ``{key: {lang: fields}}``."""
        out = {}
        for key in self.keys():
            fields = {lang: placeholders(self._messages[lang][key])
                      for lang in LANGUAGES if key in self._messages[lang]}
            if len(set(fields.values())) > 1:
                out[key] = {lang: sorted(f) for lang, f in fields.items()}
        return out


def _generated() -> dict[str, dict[str, str]]:
    """Labels defined next to their data: organ systems, difficulty levels, window presets."""
    from caselib.catalog.records import Difficulty, OrganSystem
    from caselib.imaging.presets import PRESETS

    en: dict[str, str] = {}
    zh: dict[str, str] = {}
    for s in OrganSystem:
        en[f"organ_system.{s.value}"], zh[f"organ_system.{s.value}"] = s.label_en, s.label_zh
    for d in Difficulty:
        en[f"difficulty.{d.value}"], zh[f"difficulty.{d.value}"] = d.label_en, d.label_zh
    for p in PRESETS:
        en[f"preset.{p.name}"], zh[f"preset.{p.name}"] = p.label_en, p.label_zh
    return {"en": en, "zh-CN": zh}


def _load_files() -> dict[str, dict[str, str]]:
    out = {}
    folder = resources.files("caselib.i18n") / "messages"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    for lang in LANGUAGES:
        merged: dict[str, str] = {}
        origin: dict[str, str] = {}
        # messages/<lang>.json, then messages/<area>.<lang>.json (one file per UI area)
        for name in names:
            if name != f"{lang}.json" and not name.endswith(f".{lang}.json"):
                continue
            raw = json.loads((folder / name).read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError(f"caselib/i18n/messages/{name} must hold a JSON object")
            for key in raw:
                if key in merged:
                    raise ValueError(f"message key {key!r} is defined twice: in messages/"
                                     f"{origin[key]} and messages/{name}")
                origin[key] = name
            merged.update(raw)
        out[lang] = merged
    return out


_default: Catalogue | None = None
_language = DEFAULT_LANGUAGE


def default_catalogue() -> Catalogue:
    """The catalogue built from the message files and the generated labels (built once)."""
    global _default
    if _default is None:
        files = _load_files()
        gen = _generated()
        for lang in LANGUAGES:
            clash = set(files[lang]) & set(gen[lang])
            if clash:
                raise ValueError(f"messages/{lang}.json redefines generated keys {sorted(clash)}; "
                                 "edit the label where it is defined instead")
        _default = Catalogue({lang: {**gen[lang], **files[lang]} for lang in LANGUAGES})
    return _default


def set_language(lang: str) -> None:
    """Set the module default language (``"zh-CN"`` or ``"en"``)."""
    global _language
    _language = normalize_language(lang)


def get_language() -> str:
    """The module default language."""
    return _language


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """Translate ``key`` with the default catalogue; see the module docstring.

    Parameters
    ----------
    key : str
        Message key, e.g. ``"viewer.slice"``.
    lang : str, optional
        Language for this call; default :func:`get_language`.
    **params
        Values for the ``{name}`` fields of the message.
    """
    return default_catalogue().t(key, lang, **params)


def missing_translations() -> dict[str, list[str]]:
    """``{language: [keys]}`` missing from the default catalogue (``{}`` when complete)."""
    return default_catalogue().missing_translations()
