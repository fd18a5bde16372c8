"""Real Orthanc servers for the PACS tests and the benchmark, on loopback, with auth on.

:class:`OrthancServer` writes an Orthanc JSON configuration into a temporary
folder (storage, index and log there too), picks free ports (bind to port 0 on
127.0.0.1, then release), loads the DICOMweb plugin and starts the Debian
``Orthanc`` binary as a plain process.  Orthanc binds 0.0.0.0, but every client
here talks to 127.0.0.1 only, and ``RemoteAccessAllowed`` is off so nothing
from another host is answered.  HTTP basic authentication is on (one user),
the called AE title is checked, and the DICOM peers it may talk to are listed
in ``DicomModalities`` (C-MOVE needs the destination AE known to Orthanc).

``stop()`` terminates the process (and waits); ``start()`` again reuses the same
storage, so a test can stop Orthanc in the middle of a pull and bring it back.

This module is a plain helper (no tests); ``pytest`` fixtures live in the test
modules that use it.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ORTHANC_BINARY", "DICOMWEB_PLUGIN", "OrthancServer", "free_port", "orthanc_available"]

ORTHANC_BINARY = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def orthanc_available() -> bool:
    """True when the Orthanc binary and its DICOMweb plugin are installed."""
    return Path(ORTHANC_BINARY).is_file() and Path(DICOMWEB_PLUGIN).is_file()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OrthancServer:
    """One Orthanc process with its own folder, ports, user and AE title."""

    root: Path
    aet: str = "ORTHANC"
    user: str = "teacher"
    password: str = "s3cret-Pw-Orthanc!"
    modalities: dict[str, tuple[str, int]] = field(default_factory=dict)  # AE -> (host, port)
    http_port: int = 0
    dicom_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.http_port = self.http_port or free_port()
        self.dicom_port = self.dicom_port or free_port()

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def config_path(self) -> Path:
        return self.root / "orthanc.json"

    @property
    def log_path(self) -> Path:
        return self.root / "orthanc.log"

    def config(self) -> dict[str, object]:
        return {
            "Name": f"caselib-test-{self.aet}",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"),
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": True,
            "DicomCheckModalityHost": False,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomModalities": {ae: [ae, host, port] for ae, (host, port) in self.modalities.items()},
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.user: self.password},
            "HttpTimeout": 30,
            "HttpsVerifyPeers": False,
            "SaveJobs": False,
            "StableAge": 1,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        }

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 30.0) -> OrthancServer:
        """Write the configuration and start Orthanc; return when its REST API answers."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process owns it until stop()
        try:
            self.process = subprocess.Popen([ORTHANC_BINARY, str(self.config_path)], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.root,
                                            start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode} at start; log "
                                   f"{self.log_path}:\n{self.log_tail()}")
            try:
                self.request("GET", "/system", timeout=1.0)
                if _port_open(self.dicom_port):
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer on {self.url} within {timeout} s; log:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ REST

    def request(self, method: str, path: str, body: bytes | None = None, *, timeout: float = 30.0,
                content_type: str = "application/json") -> object:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Authorization": f"Basic {token}", "Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
            data = resp.read()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data

    def upload(self, data: bytes) -> dict[str, object]:
        """POST one DICOM file to ``/instances`` (Orthanc's own ingest)."""
        result = self.request("POST", "/instances", data, content_type="application/dicom")
        assert isinstance(result, dict), result
        return result

    def upload_files(self, paths: list[Path]) -> int:
        for p in paths:
            self.upload(Path(p).read_bytes())
        return len(paths)

    def study_uids(self) -> list[str]:
        """Study Instance UIDs Orthanc holds (from its REST API, not DICOMweb)."""
        out = []
        for oid in self.request("GET", "/studies"):  # type: ignore[union-attr]
            info = self.request("GET", f"/studies/{oid}")
            out.append(info["MainDicomTags"]["StudyInstanceUID"])  # type: ignore[index]
        return sorted(out)

    def instance_count(self) -> int:
        stats = self.request("GET", "/statistics")
        return int(stats["CountInstances"])  # type: ignore[index]

    def instances_bytes(self) -> list[bytes]:
        """The stored files of every instance."""
        ids = self.request("GET", "/instances")
        out = []
        for oid in ids:  # type: ignore[union-attr]
            data = self.request("GET", f"/instances/{oid}/file")
            out.append(data if isinstance(data, bytes) else json.dumps(data).encode())
        return out

    def clear(self) -> None:
        """Delete every patient (used between benchmark rounds)."""
        for oid in self.request("GET", "/patients"):  # type: ignore[union-attr]
            self.request("DELETE", f"/patients/{oid}")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def env_for(server: OrthancServer, prefix: str) -> dict[str, str]:
    """Environment variables holding the server's credentials, named ``<PREFIX>_USER``/``_PASSWORD``."""
    return {f"{prefix}_USER": server.user, f"{prefix}_PASSWORD": server.password}


if __name__ == "__main__":  # manual check: python tests/orthanc_support.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, OrthancServer(Path(tmp)) as srv:
        print(srv.url, srv.dicom_port, srv.request("GET", "/system"))
        print("pid", os.getpid())
