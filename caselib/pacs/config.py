"""PACS connection settings: named nodes in a TOML or YAML file, credentials from the environment.

A configuration file names every PACS caselib talks to and how (DICOMweb, DIMSE
or both), plus caselib's own DICOM identity (AE title, receiver port, the AE
titles allowed to send to it)::

    # pacs.toml
    [local]
    ae_title = "CASELIB"
    port = 11112                  # C-STORE receiver (C-MOVE destination, caselib receive)
    allowed_ae = ["REGIONAL"]     # who may send; empty = the AE titles of the nodes below

    [nodes.regional]
    dicomweb_url = "http://127.0.0.1:8042/dicom-web"
    username_env = "REGIONAL_PACS_USER"        # names of environment variables,
    password_env = "REGIONAL_PACS_PASSWORD"    # never the credentials themselves
    ae_title = "REGIONAL"
    host = "127.0.0.1"
    port = 4242
    timeout = 30                  # seconds per request / DIMSE message
    retries = 3                   # attempts for transient failures, with exponential backoff
    backoff = 0.5

The same structure in YAML works too (``.yaml``/``.yml``).  A ``password`` or
``username`` key in the file is refused: credentials come from the environment
only, are read when a connection is made, and never appear in logs, reports or
exception messages (:func:`redact`; :class:`Credentials` hides the password in
its ``repr``).

The file is found at ``--config``, else ``$CASELIB_PACS_CONFIG``, else
``~/.config/caselib/pacs.toml``.

Examples
--------
>>> cfg = PacsConfig.from_dict({"nodes": {"a": {"dicomweb_url": "http://127.0.0.1:8042/dicom-web"}}})
>>> cfg.node("a").dicomweb_url, cfg.local.ae_title
('http://127.0.0.1:8042/dicom-web', 'CASELIB')
>>> Credentials("teacher", "s3cret")
Credentials(user='teacher', password='***')
"""
from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caselib.pacs.errors import PacsConfigError
from caselib.store._http import Credentials, RetryPolicy, read_credentials, redact

__all__ = ["CONFIG_ENV", "Credentials", "LocalNode", "PacsConfig", "PacsNode", "default_config_path",
           "load_config", "redact"]

CONFIG_ENV = "CASELIB_PACS_CONFIG"
_AE_RE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # PS3.5 AE: 16 chars, no backslash, no control chars
_NODE_KEYS = ("dicomweb_url", "username_env", "password_env", "ae_title", "host", "port", "timeout",
              "connect_timeout", "retries", "backoff", "verify_tls", "description")
_LOCAL_KEYS = ("ae_title", "host", "port", "allowed_ae")


def default_config_path() -> Path:
    """``$CASELIB_PACS_CONFIG`` or ``~/.config/caselib/pacs.toml``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "caselib" / "pacs.toml"


def _check_ae(value: object, where: str) -> str:
    if not isinstance(value, str) or not _AE_RE.fullmatch(value.strip()) or not value.strip():
        raise PacsConfigError(f"{where}: expected an AE title (1-16 printable ASCII characters, no backslash; "
                              f"PS3.5 Table 6.2-1), found {value!r}")
    return value.strip()


def _check_port(value: object, where: str, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise PacsConfigError(f"{where}: expected a TCP port {low}..65535, found {value!r}")
    return value


def _number(value: object, where: str, *, integer: bool = False, minimum: float = 0.0) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < minimum:  # type: ignore[operator]
        kind = "an integer" if integer else "a number"
        raise PacsConfigError(f"{where}: expected {kind} >= {minimum:g}, found {value!r}")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PacsNode:
    """One PACS: where it answers DICOMweb and/or DIMSE, and which environment variables hold its login."""

    name: str
    dicomweb_url: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    ae_title: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    timeout: float = 30.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    verify_tls: bool = True
    description: str = ""

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], origin: str = "config") -> PacsNode:
        where = f"{origin}: nodes.{name}"
        if not isinstance(data, Mapping):
            raise PacsConfigError(f"{where}: expected a table of settings, found {type(data).__name__}")
        for key in data:
            if key in ("password", "username", "user", "token"):
                raise PacsConfigError(f"{where}.{key}: credentials are never read from the file; put the NAME of "
                                      f"an environment variable in {key if key != 'user' else 'username'}_env "
                                      "(e.g. password_env = \"REGIONAL_PACS_PASSWORD\")")
            if key not in _NODE_KEYS:
                raise PacsConfigError(f"{where}.{key}: unknown setting; expected one of {', '.join(_NODE_KEYS)}")
        url = data.get("dicomweb_url")
        if url is not None:
            parsed = urllib.parse.urlsplit(str(url))
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise PacsConfigError(f"{where}.dicomweb_url: expected an http(s) URL, found {url!r}")
            if parsed.username or parsed.password:
                raise PacsConfigError(f"{where}.dicomweb_url: the URL must not carry a user or password; "
                                      "use username_env and password_env")
            url = str(url).rstrip("/")
        ae = _check_ae(data["ae_title"], f"{where}.ae_title") if data.get("ae_title") is not None else None
        port = _check_port(data["port"], f"{where}.port") if data.get("port") is not None else None
        if url is None and (ae is None or port is None):
            raise PacsConfigError(f"{where}: expected dicomweb_url, or ae_title and port (DIMSE), or both; "
                                  f"found {sorted(data)}")
        if not isinstance(data.get("verify_tls", True), bool):
            raise PacsConfigError(f"{where}.verify_tls: expected true or false, found {data['verify_tls']!r}")
        for key in ("username_env", "password_env"):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
                raise PacsConfigError(f"{where}.{key}: expected the name of an environment variable, found {value!r}")
        return cls(
            name=name, dicomweb_url=url, username_env=data.get("username_env"), password_env=data.get("password_env"),
            ae_title=ae, host=str(data.get("host", "127.0.0.1")), port=port,
            timeout=_number(data.get("timeout", 30.0), f"{where}.timeout", minimum=0.1),
            connect_timeout=_number(data.get("connect_timeout", 5.0), f"{where}.connect_timeout", minimum=0.1),
            retries=int(_number(data.get("retries", 3), f"{where}.retries", integer=True, minimum=1)),
            backoff=_number(data.get("backoff", 0.5), f"{where}.backoff"),
            verify_tls=bool(data.get("verify_tls", True)), description=str(data.get("description", "")),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retries, backoff=self.backoff)

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Read the login from the environment now; ``None`` when the node needs none.

        Raises
        ------
        PacsConfigError
            A variable named by ``username_env``/``password_env`` is not set.
        """
        return read_credentials(self.name, self.username_env, self.password_env, environ)

    def require_dicomweb(self) -> str:
        if not self.dicomweb_url:
            raise PacsConfigError(f"node {self.name!r} has no dicomweb_url; use the DIMSE path (--via dimse)")
        return self.dicomweb_url

    def require_dimse(self) -> tuple[str, str, int]:
        if not self.ae_title or not self.port:
            raise PacsConfigError(f"node {self.name!r} needs ae_title and port for DIMSE; found "
                                  f"ae_title={self.ae_title!r}, port={self.port!r}")
        return self.ae_title, self.host, self.port


@dataclass(frozen=True)
class LocalNode:
    """caselib's own DICOM identity: AE title, receiver address and the AE titles allowed to send."""

    ae_title: str = "CASELIB"
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (fine for C-GET; C-MOVE needs the port the PACS knows)
    allowed_ae: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "config") -> LocalNode:
        if not isinstance(data, Mapping):
            raise PacsConfigError(f"{origin}: local: expected a table of settings, found {type(data).__name__}")
        for key in data:
            if key not in _LOCAL_KEYS:
                raise PacsConfigError(f"{origin}: local.{key}: unknown setting; expected one of {', '.join(_LOCAL_KEYS)}")
        allowed = data.get("allowed_ae", [])
        if isinstance(allowed, str) or not isinstance(allowed, (list, tuple)):
            raise PacsConfigError(f"{origin}: local.allowed_ae: expected a list of AE titles, found {allowed!r}")
        return cls(
            ae_title=_check_ae(data.get("ae_title", "CASELIB"), f"{origin}: local.ae_title"),
            host=str(data.get("host", "127.0.0.1")),
            port=_check_port(data.get("port", 0), f"{origin}: local.port", allow_zero=True),
            allowed_ae=tuple(_check_ae(a, f"{origin}: local.allowed_ae") for a in allowed),
        )


@dataclass(frozen=True)
class PacsConfig:
    """Every configured PACS node and caselib's local DICOM identity."""

    nodes: dict[str, PacsNode] = field(default_factory=dict)
    local: LocalNode = field(default_factory=LocalNode)
    origin: str = "config"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "config") -> PacsConfig:
        if not isinstance(data, Mapping):
            raise PacsConfigError(f"{origin}: expected a table with 'nodes' (and optionally 'local'), "
                                  f"found {type(data).__name__}")
        unknown = sorted(set(data) - {"nodes", "local"})
        if unknown:
            raise PacsConfigError(f"{origin}: unknown section(s) {unknown}; expected 'nodes' and 'local'")
        nodes_data = data.get("nodes", {})
        if not isinstance(nodes_data, Mapping):
            raise PacsConfigError(f"{origin}: nodes: expected a table of named nodes, found {type(nodes_data).__name__}")
        nodes = {str(n): PacsNode.from_dict(str(n), d, origin) for n, d in nodes_data.items()}
        return cls(nodes, LocalNode.from_dict(data.get("local", {}), origin), origin)

    def node(self, name: str) -> PacsNode:
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise PacsConfigError(f"{self.origin}: no PACS node named {name!r}; configured: {known}") from None

    def allowed_ae(self) -> tuple[str, ...]:
        """The AE titles allowed to send to the receiver: ``local.allowed_ae`` or every node's AE title."""
        if self.local.allowed_ae:
            return self.local.allowed_ae
        return tuple(sorted({n.ae_title for n in self.nodes.values() if n.ae_title}))


def load_config(path: str | os.PathLike[str] | None = None) -> PacsConfig:
    """Read a PACS configuration file (TOML, or YAML by suffix); see the module docstring.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (or the default place).
    PacsConfigError
        The file is malformed; the message names the file and the setting.
    """
    p = Path(path) if path is not None else default_config_path()
    if not p.is_file():
        raise FileNotFoundError(f"no PACS configuration at {p} (give --config FILE or set ${CONFIG_ENV})")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            import tomllib

            data = tomllib.loads(text)
    except Exception as exc:
        raise PacsConfigError(f"{p}: cannot parse the PACS configuration: {exc}") from exc
    return PacsConfig.from_dict(data, str(p))
