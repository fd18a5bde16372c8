"""De-identification profiles: a named list of small, configurable steps.

A :class:`Profile` is data: a name, a description and a tuple of :class:`Step`
objects, each a frozen dataclass with a few parameters.  Profiles convert to and from
plain dicts (for YAML/JSON configuration), and the built-in ones are listed by name.

Steps
-----
============================================  =============================================
step (``key``)                                what it does
============================================  =============================================
:class:`BasicProfile` (``basic``)              Table E.1-1 Basic Profile (DCM 113100) at
                                              every nesting level and on File Meta; all
                                              private attributes removed; overlays, curves
                                              and icons removed; instance UIDs remapped.
:class:`PseudonymizePatient`                  Patient's Name and Patient ID become the
(``pseudonymize-patient``)                    archive pseudonym, e.g. ``CL-000123``.
:class:`RetainLongitudinalModifiedDates`      Dates kept but shifted by one whole-day offset
(``retain-longitudinal-modified-dates``)      per patient (DA, DT; TM unchanged), 113107.
:class:`RetainLongitudinalFullDates`          Dates kept as they are (113106).
(``retain-longitudinal-full-dates``)
:class:`RetainPatientCharacteristics`         Age, sex, size, weight... kept; ages above 89
(``retain-patient-characteristics``)          years written as ``090Y`` (113108).
:class:`CleanDescriptors`                     Descriptions and comments kept after scrubbing
(``clean-descriptors``)                       every identifier of the file, or removed (113105).
:class:`CleanStructuredContent`               SR content kept, its text scrubbed (113104).
(``clean-structured-content``)
:class:`CleanGraphics` (``clean-graphics``)   Graphic annotations kept with their text
                                              scrubbed; overlays, curves and icon images
                                              removed (113103).
:class:`RetainSafePrivate`                    Private attributes on an allow-list kept, with
(``retain-safe-private``)                     their creators; all others removed (113111).
:class:`RetainDeviceIdentity`                 Device identifiers kept (113109).
(``retain-device-identity``)
:class:`RetainInstitutionIdentity`            Institution identifiers kept (113112).
(``retain-institution-identity``)
============================================  =============================================

Built-in profiles: ``basic`` (Basic Profile and pseudonyms only), ``teaching`` (the
default of the teaching archive: basic + modified dates + patient characteristics +
clean descriptors + clean graphics + safe private) and ``teaching-structured``
(teaching + clean structured content, for SR).

Examples
--------
>>> list_profiles()
['basic', 'teaching', 'teaching-structured']
>>> profile = Profile.default()
>>> profile.name, [s.key for s in profile.steps][:3]
('teaching', ['basic', 'pseudonymize-patient', 'retain-longitudinal-modified-dates'])
>>> custom = profile.replace(CleanDescriptors(mode="remove"), name="teaching-strict")
>>> custom.step(CleanDescriptors).mode
'remove'
>>> Profile.from_dict(custom.to_dict()) == custom
True
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from caselib.deid.private import SafePrivateEntry, SafePrivateList
from caselib.deid.table import BASIC_PROFILE_CODE, Option

__all__ = [
    "Step",
    "BasicProfile",
    "PseudonymizePatient",
    "RetainLongitudinalModifiedDates",
    "RetainLongitudinalFullDates",
    "RetainPatientCharacteristics",
    "CleanDescriptors",
    "CleanStructuredContent",
    "CleanGraphics",
    "RetainSafePrivate",
    "RetainDeviceIdentity",
    "RetainInstitutionIdentity",
    "Profile",
    "get_profile",
    "list_profiles",
    "register_profile",
    "STEP_TYPES",
]

S = TypeVar("S", bound="Step")


@dataclass(frozen=True)
class Step:
    """Base class of profile steps: a key, an optional CID 7050 option, parameters."""

    key: ClassVar[str] = ""
    option: ClassVar[Option | None] = None

    def params(self) -> dict[str, Any]:
        """The step's parameters as plain values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """``{"step": key, **params}``."""
        return {"step": self.key, **self.params()}


@dataclass(frozen=True)
class BasicProfile(Step):
    """The Basic Application Level Confidentiality Profile (PS3.15 E.2, DCM 113100).

    Parameters
    ----------
    keep_references : bool
        Resolve ``X/Z/U*`` (Referenced Image Sequence, Source Image Sequence) to
        ``U``: keep the references with their UIDs remapped.  ``False`` removes them.
    """

    key: ClassVar[str] = "basic"
    keep_references: bool = True


@dataclass(frozen=True)
class PseudonymizePatient(Step):
    """Write the archive pseudonym into Patient's Name and Patient ID.

    Parameters
    ----------
    prefix : str
        Text before the number, e.g. ``"CL-"``.
    digits : int
        Zero-padded width of the number (``CL-000123``).
    """

    key: ClassVar[str] = "pseudonymize-patient"
    prefix: str = "CL-"
    digits: int = 6

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix.isascii() or "\\" in self.prefix \
                or "^" in self.prefix or "=" in self.prefix or not self.prefix.isprintable():
            raise ValueError(f"pseudonym prefix must be printable ASCII without \\, ^ or =; got {self.prefix!r}")
        if not 1 <= self.digits <= 12 or len(self.prefix) + self.digits > 64:
            raise ValueError(f"pseudonym digits must be 1-12 and prefix+digits at most 64; got {self.digits}")


@dataclass(frozen=True)
class RetainLongitudinalModifiedDates(Step):
    """Shift every date of a patient by one whole-day offset (PS3.15 E.3.6, DCM 113107).

    The offset is derived from the HMAC of the patient identity with the archive
    secret and is uniform in ``[min_days, max_days]``; DA and the date part of DT are
    shifted, TM is kept (a whole-day shift does not move the time of day), so every
    interval between the patient's studies is preserved.

    Parameters
    ----------
    min_days, max_days : int
        Inclusive range of the offset in days (default -3650 to -365: one to ten
        years earlier).
    """

    key: ClassVar[str] = "retain-longitudinal-modified-dates"
    option: ClassVar[Option | None] = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES
    min_days: int = -3650
    max_days: int = -365

    def __post_init__(self) -> None:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days must be <= max_days; got {self.min_days} > {self.max_days}")
        if self.min_days <= 0 <= self.max_days:
            raise ValueError(f"the offset range must exclude 0 days; got [{self.min_days}, {self.max_days}]")


@dataclass(frozen=True)
class RetainLongitudinalFullDates(Step):
    """Keep every date unchanged (PS3.15 E.3.6, DCM 113106)."""

    key: ClassVar[str] = "retain-longitudinal-full-dates"
    option: ClassVar[Option | None] = Option.RETAIN_LONGITUDINAL_FULL_DATES


@dataclass(frozen=True)
class RetainPatientCharacteristics(Step):
    """Keep age, sex, size, weight and similar (PS3.15 E.3.7, DCM 113108).

    Parameters
    ----------
    max_age_years : int
        Patient's Age above this is written as ``max_age_years + 1`` years
        (``090Y``: "90 or older", since AS cannot say "90+").
    """

    key: ClassVar[str] = "retain-patient-characteristics"
    option: ClassVar[Option | None] = Option.RETAIN_PATIENT_CHARACTERISTICS
    max_age_years: int = 89

    def __post_init__(self) -> None:
        if not 0 < self.max_age_years < 999:
            raise ValueError(f"max_age_years must be between 1 and 998, got {self.max_age_years}")


@dataclass(frozen=True)
class CleanDescriptors(Step):
    """Keep descriptions and comments after cleaning (PS3.15 E.3.5, DCM 113105).

    Parameters
    ----------
    mode : {"scrub", "remove"}
        ``scrub``: every identifier harvested from the file's own header (names,
        IDs, dates, addresses...) and every configured pattern (phone numbers,
        dates, e-mail, record numbers) is replaced by ``***``.  ``remove``: the
        descriptors are removed as in the Basic Profile (the option is then not
        claimed in the marks, since nothing is retained).
    """

    key: ClassVar[str] = "clean-descriptors"
    option: ClassVar[Option | None] = Option.CLEAN_DESCRIPTORS
    mode: Literal["scrub", "remove"] = "scrub"

    def __post_init__(self) -> None:
        if self.mode not in ("scrub", "remove"):
            raise ValueError(f"mode must be 'scrub' or 'remove', got {self.mode!r}")


@dataclass(frozen=True)
class CleanStructuredContent(Step):
    """Keep SR content and acquisition context, scrubbing their text (E.3.4, DCM 113104)."""

    key: ClassVar[str] = "clean-structured-content"
    option: ClassVar[Option | None] = Option.CLEAN_STRUCTURED_CONTENT
    mode: Literal["scrub", "remove"] = "scrub"

    def __post_init__(self) -> None:
        if self.mode not in ("scrub", "remove"):
            raise ValueError(f"mode must be 'scrub' or 'remove', got {self.mode!r}")


@dataclass(frozen=True)
class CleanGraphics(Step):
    """Clean graphics (PS3.15 E.3.3, DCM 113103).

    Graphic Annotation Sequence is kept with the text of its text objects scrubbed.
    Overlay planes (the whole 60xx group), curves (50xx) and Icon Image Sequence are
    removed: their bitmaps may carry burned-in text that caselib cannot read, so
    removing them is the only cleaning it can vouch for.
    """

    key: ClassVar[str] = "clean-graphics"
    option: ClassVar[Option | None] = Option.CLEAN_GRAPHICS


@dataclass(frozen=True)
class RetainSafePrivate(Step):
    """Keep allow-listed private attributes (PS3.15 E.3.10, DCM 113111).

    Parameters
    ----------
    allow_list : SafePrivateList, optional
        The list to use; default the shipped one (Table E.3.10-1, see
        :mod:`caselib.deid.private`).
    extra : tuple of SafePrivateEntry
        Entries added to the list.
    """

    key: ClassVar[str] = "retain-safe-private"
    option: ClassVar[Option | None] = Option.RETAIN_SAFE_PRIVATE
    allow_list: SafePrivateList | None = None
    extra: tuple[SafePrivateEntry, ...] = ()

    def resolved_list(self) -> SafePrivateList:
        """The effective allow-list."""
        base = self.allow_list if self.allow_list is not None else SafePrivateList.default()
        return base.extended(self.extra) if self.extra else base

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.allow_list is not None:
            out["allow_list"] = [e.to_dict() for e in self.allow_list]
        if self.extra:
            out["extra"] = [e.to_dict() for e in self.extra]
        return out


@dataclass(frozen=True)
class RetainDeviceIdentity(Step):
    """Keep device identifiers (PS3.15 E.3.8, DCM 113109)."""

    key: ClassVar[str] = "retain-device-identity"
    option: ClassVar[Option | None] = Option.RETAIN_DEVICE_IDENTITY


@dataclass(frozen=True)
class RetainInstitutionIdentity(Step):
    """Keep institution identifiers (PS3.15 E.3.11, DCM 113112)."""

    key: ClassVar[str] = "retain-institution-identity"
    option: ClassVar[Option | None] = Option.RETAIN_INSTITUTION_IDENTITY


STEP_TYPES: dict[str, type[Step]] = {
    cls.key: cls
    for cls in (
        BasicProfile, PseudonymizePatient, RetainLongitudinalModifiedDates, RetainLongitudinalFullDates,
        RetainPatientCharacteristics, CleanDescriptors, CleanStructuredContent, CleanGraphics,
        RetainSafePrivate, RetainDeviceIdentity, RetainInstitutionIdentity,
    )
}


def _step_from_dict(item: Mapping[str, Any]) -> Step:
    if not isinstance(item, Mapping) or "step" not in item:
        raise ValueError(f"a step must be a mapping with a 'step' key, got {item!r}")
    key = item["step"]
    cls = STEP_TYPES.get(key)
    if cls is None:
        close = difflib.get_close_matches(str(key), STEP_TYPES, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known steps: {', '.join(STEP_TYPES)}"
        raise ValueError(f"unknown step {key!r}{hint}")
    params = {k: v for k, v in item.items() if k != "step"}
    if cls is RetainSafePrivate:
        if "allow_list" in params:
            params["allow_list"] = SafePrivateList.from_dicts(params["allow_list"])
        if "extra" in params:
            params["extra"] = SafePrivateList.from_dicts(params["extra"]).entries
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for step {key!r}: {exc}") from None


@dataclass(frozen=True)
class Profile:
    """A named, ordered list of de-identification steps.

    The first step must be :class:`BasicProfile`; each step type appears at most
    once; the two date options exclude each other.

    Attributes
    ----------
    name : str
        Name written into De-identification Method (0012,0063).
    steps : tuple of Step
    description : str
    """

    name: str
    steps: tuple[Step, ...]
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a profile needs a non-empty name, got {self.name!r}")
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        if not steps or not isinstance(steps[0], BasicProfile):
            raise ValueError(f"profile {self.name!r}: the first step must be BasicProfile()")
        kinds = [type(s) for s in steps]
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"profile {self.name!r}: {s!r} is not a Step")
        dupes = {k.key for k in kinds if kinds.count(k) > 1}
        if dupes:
            raise ValueError(f"profile {self.name!r}: step(s) {', '.join(sorted(dupes))} appear more than once")
        if RetainLongitudinalFullDates in kinds and RetainLongitudinalModifiedDates in kinds:
            raise ValueError(f"profile {self.name!r}: choose one of the full-dates and modified-dates options")

    @classmethod
    def default(cls) -> Profile:
        """The teaching archive's profile (``teaching``)."""
        return get_profile("teaching")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Build from ``{"name": ..., "description": ..., "steps": [{"step": key, ...}]}``."""
        if not isinstance(data, Mapping) or "name" not in data or "steps" not in data:
            raise ValueError("a profile mapping needs 'name' and 'steps'")
        return cls(str(data["name"]), tuple(_step_from_dict(s) for s in data["steps"]),
                   str(data.get("description", "")))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (round-trips through :meth:`from_dict`)."""
        return {"name": self.name, "description": self.description, "steps": [s.to_dict() for s in self.steps]}

    def step(self, kind: type[S]) -> S | None:
        """The step of the given type, or ``None``."""
        for s in self.steps:
            if isinstance(s, kind):
                return s
        return None

    def replace(self, *steps: Step, name: str | None = None, description: str | None = None) -> Profile:
        """A copy with steps replaced (same type) or appended, optionally renamed."""
        new = list(self.steps)
        for s in steps:
            for i, old in enumerate(new):
                if type(old) is type(s):
                    new[i] = s
                    break
            else:
                new.append(s)
        return Profile(name or self.name, tuple(new), self.description if description is None else description)

    def without(self, *kinds: type[Step], name: str | None = None) -> Profile:
        """A copy without the steps of the given types."""
        return Profile(name or self.name, tuple(s for s in self.steps if type(s) not in kinds), self.description)

    @property
    def options(self) -> frozenset[Option]:
        """The options whose table columns apply."""
        return frozenset(s.option for s in self.steps if s.option is not None)

    @property
    def codes(self) -> tuple[tuple[str, str], ...]:
        """CID 7050 ``(code value, meaning)`` pairs claimed in the marks: 113100 then options.

        Clean Descriptors and Clean Structured Content in ``remove`` mode retain
        nothing to clean, so they are not claimed.
        """
        out = [BASIC_PROFILE_CODE]
        for s in self.steps:
            if s.option is None or getattr(s, "mode", "scrub") == "remove":
                continue
            out.append((s.option.code, s.option.meaning))
        return tuple(out)


_PROFILES: dict[str, Profile] = {}


def register_profile(profile: Profile, *, replace: bool = False) -> None:
    """Make a profile available to :func:`get_profile` by its name."""
    if profile.name in _PROFILES and not replace:
        raise ValueError(f"a profile named {profile.name!r} exists; pass replace=True to replace it")
    _PROFILES[profile.name] = profile


def list_profiles() -> list[str]:
    """Names of the available profiles, sorted."""
    return sorted(_PROFILES)


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name suggests the closest ones."""
    try:
        return _PROFILES[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_PROFILES), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"available: {', '.join(list_profiles())}"
        raise ValueError(f"unknown de-identification profile {name!r}; {hint}") from None


def _builtin(name: str, description: str, steps: Iterable[Step]) -> None:
    register_profile(Profile(name, tuple(steps), description))


_builtin("basic", "PS3.15 Basic Profile with archive pseudonyms and remapped UIDs; no option.",
         (BasicProfile(), PseudonymizePatient()))
_builtin(
    "teaching",
    "Teaching archive default: Basic Profile + Retain Longitudinal Temporal Information with Modified "
    "Dates + Retain Patient Characteristics + Clean Descriptors + Clean Graphics + Retain Safe Private.",
    (BasicProfile(), PseudonymizePatient(), RetainLongitudinalModifiedDates(), RetainPatientCharacteristics(),
     CleanDescriptors(), CleanGraphics(), RetainSafePrivate()),
)
_builtin(
    "teaching-structured",
    "The teaching profile plus Clean Structured Content (SR text scrubbed rather than replaced).",
    (BasicProfile(), PseudonymizePatient(), RetainLongitudinalModifiedDates(), RetainPatientCharacteristics(),
     CleanDescriptors(), CleanStructuredContent(), CleanGraphics(), RetainSafePrivate()),
)
