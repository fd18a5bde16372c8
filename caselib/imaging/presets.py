"""Window presets as data, each with its source.

Values are the widely published ones; where a source gives a range, the
``source`` string says so and which value was taken.  Presets are in
modality units (HU for CT) and use the LINEAR VOI LUT function.

Sources
-------
``RADIOPAEDIA``: the article "Windowing (CT)" on Radiopaedia.org,
https://radiopaedia.org/articles/windowing-ct, section "Typical window width
and level values" (a collaboratively edited reference; the values were checked
against copies of that table, not against a dated revision of the page).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from caselib.imaging.window import Window

__all__ = ["WindowPreset", "PRESETS", "get_preset", "list_presets"]

RADIOPAEDIA = (
    "Radiopaedia, 'Windowing (CT)', typical window width and level values "
    "(https://radiopaedia.org/articles/windowing-ct)"
)


@dataclass(frozen=True)
class WindowPreset:
    """A named window with where its values come from.

    Attributes
    ----------
    name : str
        Look-up key, lower-case snake_case (``"lung"``).
    window : Window
        The window, in modality units (HU for CT).
    modality : str
        DICOM (0008,0060) Modality the preset is for (``"CT"``).
    body_part : str or None
        Region it is usually used for, as a (0018,0015) Body Part Examined
        style term; ``None`` when it applies anywhere.
    label_zh, label_en : str
        Display labels, zh-CN and English.
    source : str
        Where the values come from.
    """

    name: str
    window: Window
    modality: str
    body_part: str | None
    label_zh: str
    label_en: str
    source: str

    def __str__(self) -> str:
        return f"{self.label_en} ({self.label_zh}) {self.window}"


PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset(
        "lung", Window(-600, 1500), "CT", "CHEST", "肺窗", "Lung",
        f"{RADIOPAEDIA}: chest, lungs W:1500 L:-600",
    ),
    WindowPreset(
        "mediastinum", Window(50, 350), "CT", "CHEST", "纵隔窗", "Mediastinum",
        f"{RADIOPAEDIA}: chest, mediastinum W:350 L:50",
    ),
    WindowPreset(
        "soft_tissue", Window(50, 400), "CT", "ABDOMEN", "软组织窗（腹部）",
        "Soft tissue (abdomen)",
        f"{RADIOPAEDIA}: abdomen, soft tissues W:400 L:50",
    ),
    WindowPreset(
        "liver", Window(30, 150), "CT", "ABDOMEN", "肝窗", "Liver",
        f"{RADIOPAEDIA}: abdomen, liver W:150 L:30",
    ),
    WindowPreset(
        "bone", Window(400, 1800), "CT", None, "骨窗", "Bone",
        f"{RADIOPAEDIA}: spine, bone W:1800 L:400",
    ),
    WindowPreset(
        "brain", Window(40, 80), "CT", "HEAD", "脑窗", "Brain",
        f"{RADIOPAEDIA}: head and neck, brain W:80 L:40",
    ),
    WindowPreset(
        "subdural", Window(75, 200), "CT", "HEAD", "硬膜下窗", "Subdural",
        f"{RADIOPAEDIA}: head and neck, subdural W:130-300 L:50-100 "
        "(a range; W:200 L:75 taken from within it)",
    ),
    WindowPreset(
        "stroke", Window(40, 40), "CT", "HEAD", "卒中窗", "Stroke",
        f"{RADIOPAEDIA}: head and neck, stroke W:8 L:32 or W:40 L:40 "
        "(the wider of the two; see 'stroke_narrow')",
    ),
    WindowPreset(
        "stroke_narrow", Window(32, 8), "CT", "HEAD", "卒中窗（窄）", "Stroke (narrow)",
        f"{RADIOPAEDIA}: head and neck, stroke W:8 L:32 or W:40 L:40 (the narrower of the two)",
    ),
    WindowPreset(
        "temporal_bone", Window(600, 2800), "CT", "HEAD", "颞骨窗（内耳）",
        "Temporal bone / inner ear",
        f"{RADIOPAEDIA}: head and neck, temporal bones W:2800 L:600 or W:4000 L:700 "
        "(the first)",
    ),
    WindowPreset(
        "angio", Window(170, 600), "CT", None, "血管窗（CTA）", "Angiography (CTA)",
        "common clinical practice, as listed in the preset table of the open-source "
        "ctviewer project (https://github.com/vibhuagrawal14/ctviewer, 'CTA' L:170 W:600); "
        "not in the Radiopaedia table, and viewers differ",
    ),
)

_BY_NAME: dict[str, WindowPreset] = {p.name: p for p in PRESETS}
if len(_BY_NAME) != len(PRESETS):  # pragma: no cover - guards edits to the table
    raise RuntimeError("duplicate preset names in caselib.imaging.presets.PRESETS")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_preset(name: str) -> WindowPreset:
    """Look up a preset by name (case, spaces and hyphens ignored).

    Raises
    ------
    KeyError
        If there is no such preset; the message lists the available names.

    Examples
    --------
    >>> p = get_preset("lung")
    >>> p.window, p.label_zh
    (Window(center=-600.0, width=1500.0), '肺窗')
    >>> print(get_preset("Temporal bone"))
    Temporal bone / inner ear (颞骨窗（内耳）) W:2800 L:600
    >>> get_preset("lungs")
    Traceback (most recent call last):
    ...
    KeyError: "unknown window preset 'lungs' (did you mean 'lung'?); available: lung, mediastinum, soft_tissue, liver, bone, brain, subdural, stroke, stroke_narrow, temporal_bone, angio"
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a str; found {type(name).__name__}")
    key = _normalise(name)
    try:
        return _BY_NAME[key]
    except KeyError:
        close = difflib.get_close_matches(key, _BY_NAME, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(
            f"unknown window preset {name!r}{hint}; available: {', '.join(_BY_NAME)}"
        ) from None


def list_presets(modality: str | None = None) -> list[WindowPreset]:
    """All presets in table order, or those for one modality (case ignored).

    Examples
    --------
    >>> [p.name for p in list_presets("ct")][:3]
    ['lung', 'mediastinum', 'soft_tissue']
    >>> list_presets("MR")
    []
    """
    if modality is None:
        return list(PRESETS)
    wanted = modality.strip().upper()
    return [p for p in PRESETS if p.modality == wanted]
