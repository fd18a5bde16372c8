"""Errors of :mod:`caselib.deid`, all under :class:`caselib.errors.CaselibError`.

Bad arguments (an unknown profile name, a malformed step) raise ``ValueError`` or
``TypeError`` as everywhere in caselib; the classes here are for failures of the
domain: a profile table that does not parse, a secret that is missing or unsafe, a
registry bound to another secret, and residual PHI found by the verifier.
"""
from __future__ import annotations

from caselib.errors import CaselibError

__all__ = [
    "DeidError",
    "ProfileTableError",
    "SecretError",
    "RegistryError",
    "ResidualPHIError",
]


class DeidError(CaselibError):
    """Base class of the de-identification errors."""


class ProfileTableError(DeidError):
    """A data file of the confidentiality profile (Table E.1-1, allow-list) is malformed."""


class SecretError(DeidError):
    """The per-archive secret is missing, too short, or readable by others."""


class RegistryError(DeidError):
    """A pseudonym registry is unreadable or belongs to another secret."""


class ResidualPHIError(DeidError):
    """The residual-PHI scan found identifying values in a de-identified object.

    The message lists the tag paths; the full :class:`~caselib.deid.VerificationReport`
    is in :attr:`report`.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
