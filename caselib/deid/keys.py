"""The per-archive secret and everything derived from it with HMAC-SHA256.

One random secret per archive keys every pseudonymous value caselib writes:

- replacement UIDs: ``2.25.`` + 128 bits of ``HMAC(secret, "caselib:uid:v1\\0" + uid)``
  (:meth:`Keyring.uid`), so the same input UID gives the same output UID in every
  file, run and session of the archive, and a different one in another archive;
- the patient key: ``HMAC(secret, "caselib:patient:v1\\0" + issuer + "\\0" + id)``
  (:meth:`Keyring.patient_key`), the only thing a pseudonym registry stores, so the
  registry holds no identifier in clear;
- the date offset of a patient: ``HMAC(secret, "caselib:date-offset:v1\\0" + ...)``
  reduced into the configured range of days (:meth:`Keyring.date_offset`), so it is
  the same for every study of the patient and needs no storage;
- a fingerprint (:func:`secret_fingerprint`) that registries keep to refuse being
  used with another secret.

The secret itself never leaves this module's objects: it is not logged, not put in
any ``repr``, and never written anywhere but its own file, which :func:`load_secret`
creates with mode 0600 and refuses to create inside a git work tree unless git
ignores the path (the project's ``.gitignore`` lists ``.caselib-secret``).

Examples
--------
>>> keys = Keyring(b"\\x01" * 32)
>>> keys.uid("1.2.3.4") == keys.uid("1.2.3.4"), keys.uid("1.2.3.4").startswith("2.25.")
(True, True)
>>> -3650 <= keys.date_offset("patient-key", (-3650, -365)) <= -365
True
>>> keys
Keyring(fingerprint='...')
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from caselib.deid.errors import SecretError
from caselib.deid.values import uid_from_digest

__all__ = [
    "Keyring",
    "load_secret",
    "generate_secret",
    "secret_fingerprint",
    "SECRET_FILE_NAME",
    "MIN_SECRET_BYTES",
]

#: default name of the secret file in an archive (listed in the project's .gitignore)
SECRET_FILE_NAME = ".caselib-secret"
MIN_SECRET_BYTES = 16
_HEADER = "caselib-secret-v1 "


def generate_secret(nbytes: int = 32) -> bytes:
    """A new random secret from the operating system's CSPRNG."""
    if nbytes < MIN_SECRET_BYTES:
        raise ValueError(f"a secret needs at least {MIN_SECRET_BYTES} bytes, got {nbytes}")
    return secrets.token_bytes(nbytes)


def secret_fingerprint(secret: bytes) -> str:
    """A short public fingerprint of a secret (reveals nothing usable about it).

    >>> len(secret_fingerprint(b"x" * 32))
    16
    """
    _check_secret(secret)
    return hmac.new(secret, b"caselib:fingerprint:v1", hashlib.sha256).hexdigest()[:16]


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, (bytes, bytearray)):
        raise TypeError(f"secret must be bytes, got {type(secret).__name__}")
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(f"secret too short: expected at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")


def _inside_unignored_git_tree(path: Path) -> bool:
    """True if ``path`` is inside a git work tree and git does not ignore it."""
    for parent in path.resolve().parents:
        if (parent / ".git").exists():
            git = shutil.which("git")
            if git is None:
                return True
            result = subprocess.run(
                [git, "-C", str(parent), "check-ignore", "-q", str(path.resolve())],
                capture_output=True,
                check=False,
            )
            return result.returncode != 0
    return False


def load_secret(path: str | os.PathLike[str], *, create: bool = True) -> bytes:
    """Read the archive's secret from ``path``, creating it (mode 0600) if allowed.

    The file holds one line, ``caselib-secret-v1 <hex>``.  Creation is atomic
    (``O_CREAT | O_EXCL``): when two processes race, one creates the file and both
    read the same secret.

    Parameters
    ----------
    path : path-like
        The secret file, by convention ``<archive>/.caselib-secret``.
    create : bool
        Create a new 32-byte secret if the file does not exist.

    Returns
    -------
    bytes
        The secret (never print or log it).

    Raises
    ------
    SecretError
        If the file is missing and ``create`` is false, is readable or writable by
        group or others (``chmod 600 <path>`` fixes it), is malformed, or would be
        created inside a git work tree at a path git does not ignore.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> secret = load_secret(folder / ".caselib-secret")
    >>> secret == load_secret(folder / ".caselib-secret", create=False)
    True
    >>> oct((folder / ".caselib-secret").stat().st_mode & 0o777)
    '0o600'
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise SecretError(f"secret file {path} does not exist; create it with load_secret(path, create=True)")
        path.parent.mkdir(parents=True, exist_ok=True)
        if _inside_unignored_git_tree(path):
            raise SecretError(
                f"refusing to create the archive secret {path} inside a git work tree where git "
                "does not ignore it; put the archive elsewhere or add the file name to .gitignore"
            )
        secret = generate_secret()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: read its secret below
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(_HEADER + secret.hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretError(
                f"secret file {path} has mode {mode:04o}; expected 0600 (run: chmod 600 {path})"
            )
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.__class__.__name__}") from None
    if not text.startswith(_HEADER):
        raise SecretError(f"secret file {path} is malformed: expected a line starting with {_HEADER.strip()!r}")
    try:
        secret = bytes.fromhex(text[len(_HEADER):])
    except ValueError:
        raise SecretError(f"secret file {path} is malformed: the key is not hexadecimal") from None
    _check_secret(secret)
    return secret


class Keyring:
    """Keyed derivations (HMAC-SHA256) from one archive secret.

    Parameters
    ----------
    secret : bytes
        At least 16 bytes, normally from :func:`load_secret`.

    Notes
    -----
    Replacement UIDs are cached (up to 2**18 per keyring) since the same study,
    series and frame-of-reference UIDs recur in every instance of a series.
    """

    __slots__ = ("_secret", "_uids", "fingerprint")

    def __init__(self, secret: bytes) -> None:
        _check_secret(secret)
        self._secret = bytes(secret)
        self._uids: dict[str, str] = {}
        self.fingerprint = secret_fingerprint(self._secret)

    def __repr__(self) -> str:
        return f"Keyring(fingerprint={self.fingerprint!r})"

    def _digest(self, purpose: bytes, text: str) -> bytes:
        return hmac.new(self._secret, purpose + b"\0" + text.encode("utf-8"), hashlib.sha256).digest()

    def uid(self, uid: str) -> str:
        """The replacement of an instance UID: ``2.25.<128 bits of HMAC>``."""
        out = self._uids.get(uid)
        if out is None:
            out = uid_from_digest(self._digest(b"caselib:uid:v1", uid))
            if len(self._uids) >= 1 << 18:
                self._uids.clear()
            self._uids[uid] = out
        return out

    def patient_key(self, identity: str) -> str:
        """The opaque key of a patient identity (64 hex digits), stored by registries."""
        return self._digest(b"caselib:patient:v1", identity).hex()

    def date_offset(self, identity: str, days_range: tuple[int, int]) -> int:
        """Whole-day offset of a patient, uniform in ``days_range`` (inclusive).

        Derived from the HMAC of the patient identity, so it is stable across files,
        runs and sessions of one archive and needs no storage.
        """
        low, high = days_range
        if low > high:
            raise ValueError(f"date offset range must be (low, high) with low <= high, got {days_range}")
        n = int.from_bytes(self._digest(b"caselib:date-offset:v1", identity)[:8], "big")
        return low + n % (high - low + 1)
