"""deploy/: every config parses, and the pieces agree (no cluster is started)."""
from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"

# top-level keys of the Zero to JupyterHub chart's values (4.x)
Z2JH_TOP = {"fullnameOverride", "nameOverride", "enabled", "imagePullSecret", "imagePullSecrets", "hub",
            "rbac", "proxy", "singleuser", "scheduling", "ingress", "prePuller", "custom", "cull",
            "debug", "global"}
Z2JH_HUB = {"config", "extraConfig", "loadRoles", "services", "extraEnv", "extraVolumes",
            "extraVolumeMounts", "image", "db", "resources", "networkPolicy", "baseUrl", "cookieSecret"}
Z2JH_SINGLEUSER = {"image", "defaultUrl", "cpu", "memory", "extraEnv", "storage", "profileList",
                   "extraFiles", "cmd", "uid", "fsGid", "networkPolicy", "lifecycleHooks", "initContainers"}


def run_config(path: Path) -> Config:
    c = Config()
    runpy.run_path(str(path), init_globals={"get_config": lambda: c})
    return c


def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def manifests(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "helm" / name).read_text()) if d]


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.py")), ids=lambda p: p.name)
def test_python_configs_compile_and_run(path):
    compile(path.read_text(), str(path), "exec")
    assert run_config(path)


def test_jupyterhub_config_without_and_with_lti(monkeypatch):
    c = run_config(DEPLOY / "jupyterhub_config.py")
    assert c.JupyterHub.authenticator_class == "nativeauthenticator.NativeAuthenticator"
    monkeypatch.setenv("CASELIB_LTI_ISSUER", "https://lms.example.edu")
    monkeypatch.setenv("CASELIB_LTI_AUTHORIZE_URL", "https://lms.example.edu/auth")
    monkeypatch.setenv("CASELIB_LTI_JWKS_URL", "https://lms.example.edu/jwks")
    monkeypatch.setenv("CASELIB_LTI_CLIENT_ID", "abc")
    c = run_config(DEPLOY / "jupyterhub_config.py")
    assert c.JupyterHub.authenticator_class == "ltiauthenticator.lti13.auth.LTI13Authenticator"
    assert c.LTI13Authenticator.client_id == ["abc"] and c.LTI13Authenticator.issuer.startswith("https://")
    service = next(s for s in c.JupyterHub.services if s["name"] == "caselib-radiology")
    assert "--ServerApp.default_url=/formgrader" in service["command"]
    groups = set(c.JupyterHub.load_groups)
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "formgrader")
    assert set(role["groups"]) <= groups and "access:services!service=caselib-radiology" in role["scopes"]
    assert c.Spawner.environment["CASELIB_USAGE_LOG"].endswith("/")


def test_nbgrader_course_ids_agree():
    hub = run_config(DEPLOY / "nbgrader_config.py")
    course_src = (REPO / "assignments" / "nbgrader_config.py").read_text()
    assert f'course_id = "{hub.CourseDirectory.course_id}"' in course_src
    assert hub.Exchange.root == "/srv/nbgrader/exchange"


def test_helm_values_use_known_keys_and_consistent_volumes():
    v = values()
    assert set(v) <= Z2JH_TOP, set(v) - Z2JH_TOP
    assert set(v["hub"]) <= Z2JH_HUB, set(v["hub"]) - Z2JH_HUB
    assert set(v["singleuser"]) <= Z2JH_SINGLEUSER, set(v["singleuser"]) - Z2JH_SINGLEUSER
    lti = v["hub"]["config"]["LTI13Authenticator"]
    assert v["hub"]["config"]["JupyterHub"]["authenticator_class"] == "ltiauthenticator.lti13.auth.LTI13Authenticator"
    assert {"issuer", "authorize_url", "jwks_endpoint", "client_id", "username_key"} <= set(lti)
    assert isinstance(lti["client_id"], list)
    storage = v["singleuser"]["storage"]
    vol_names = [x["name"] for x in storage["extraVolumes"]]
    mount_names = [x["name"] for x in storage["extraVolumeMounts"]]
    assert sorted(vol_names) == sorted(mount_names)
    mounts = {x["name"]: x["mountPath"] for x in storage["extraVolumeMounts"]}
    hub_nbgrader = run_config(DEPLOY / "nbgrader_config.py")
    assert mounts["nbgrader-exchange"] == hub_nbgrader.Exchange.root
    assert v["singleuser"]["extraEnv"]["CASELIB_USAGE_LOG"].rstrip("/") == mounts["caselib-usage"]
    claims = {x["persistentVolumeClaim"]["claimName"] for x in storage["extraVolumes"]}
    defined = {m["metadata"]["name"] for m in manifests("shared-storage.yaml") if m["kind"] == "PersistentVolumeClaim"}
    assert claims <= defined
    for code in v["hub"]["extraConfig"].values():
        ast.parse(code)
    secret = v["singleuser"]["extraEnv"]["CASELIB_USAGE_KEY"]["valueFrom"]["secretKeyRef"]["name"]
    assert secret in {m["metadata"]["name"] for m in manifests("shared-storage.yaml") if m["kind"] == "Secret"}


def test_shared_volumes_are_read_write_many_and_the_grader_matches_the_service():
    for m in manifests("shared-storage.yaml"):
        assert m["apiVersion"] and m["kind"] and m["metadata"]["name"]
        if m["kind"] == "PersistentVolumeClaim":
            assert m["spec"]["accessModes"] == ["ReadWriteMany"]
    grader = {m["kind"]: m for m in manifests("grader.yaml")}
    assert set(grader) == {"PersistentVolumeClaim", "Secret", "Deployment", "Service"}
    env = {e["name"]: e.get("value") for e in grader["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    service = values()["hub"]["services"][env["JUPYTERHUB_SERVICE_NAME"]]
    assert service["url"].startswith(f"http://{grader['Service']['metadata']['name']}:")
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/services/{env['JUPYTERHUB_SERVICE_NAME']}/"
    assert env["CASELIB_USAGE_LOG"] == "off"
    mounts = {m["name"]: m["mountPath"] for m in
              grader["Deployment"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["exchange"] == "/srv/nbgrader/exchange"


def test_dockerfile_disables_instructor_extensions_for_students():
    text = (DEPLOY / "Dockerfile.singleuser").read_text()
    first = next(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    assert first.startswith("FROM ")
    for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
        assert plugin in text
    assert "COPY deploy/nbgrader_config.py /etc/jupyter/nbgrader_config.py" in text


def test_readme_names_every_file():
    readme = (DEPLOY / "README.md").read_text()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert path.name in readme, f"{path.relative_to(DEPLOY)} is not described in deploy/README.md"
    for topic in ("LTI 1.3", "ltiauthenticator", "CSV", "Zero to JupyterHub", "ngshare", "Voila", "formgrader"):
        assert topic in readme
