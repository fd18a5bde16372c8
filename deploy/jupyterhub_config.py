"""JupyterHub for one class on one machine (for Kubernetes see helm/values.yaml).

- **students** log in (through the LMS with LTI 1.3 when ``CASELIB_LTI_ISSUER``
  is set, else with the hub's own accounts), get a JupyterLab with caselib and
  nbgrader's student extensions (assignment list, validate), and open the
  classroom dashboards with Voila inside their server (``/user/<name>/voila/``);
- **instructors** (group ``formgrade-caselib-radiology``) reach the course's
  formgrader, a JupyterHub service running as the course's grader account;
- the nbgrader exchange is ``/srv/nbgrader/exchange`` (deploy/nbgrader_config.py);
- usage events go to one file per pseudonym in ``/srv/caselib/usage/``.

Only strings are used for classes here, so the file can be checked without
JupyterHub installed (tests/test_deploy.py).
"""
import os

c = get_config()  # noqa: F821 - provided by JupyterHub

COURSE_ID = "caselib-radiology"
GRADER_USER = f"grader-{COURSE_ID}"
GRADER_PORT = 9999
STUDENTS = f"nbgrader-{COURSE_ID}"
INSTRUCTORS = f"formgrade-{COURSE_ID}"

c.JupyterHub.bind_url = os.environ.get("CASELIB_HUB_URL", "http://127.0.0.1:8000")
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    # pseudonymous usage log, one file per pseudonym; the key makes pseudonyms stable across servers
    "CASELIB_USAGE_LOG": "/srv/caselib/usage/",
    "CASELIB_USAGE_KEY": os.environ.get("CASELIB_USAGE_KEY", ""),
    # the verified data files, shared read-only (caselib fetch --demo fills it once)
    "CASELIB_DATA_MIRRORS": "/srv/caselib/data",
    "CASELIB_ARCHIVE": "/srv/caselib/archive",
}

# --- who logs in ----------------------------------------------------------------------------
if os.environ.get("CASELIB_LTI_ISSUER"):
    # LTI 1.3 launch from the LMS (Moodle, Canvas...): register the hub there as an external tool;
    # the LMS shows the client id, the authorisation URL and its JWKS URL
    c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
    c.LTI13Authenticator.issuer = os.environ["CASELIB_LTI_ISSUER"]
    c.LTI13Authenticator.authorize_url = os.environ["CASELIB_LTI_AUTHORIZE_URL"]
    c.LTI13Authenticator.jwks_endpoint = os.environ["CASELIB_LTI_JWKS_URL"]
    c.LTI13Authenticator.client_id = [os.environ["CASELIB_LTI_CLIENT_ID"]]
    # the student number the LMS sends becomes the hub user name = nbgrader student id
    c.LTI13Authenticator.username_key = os.environ.get("CASELIB_LTI_USERNAME_KEY", "custom_student_id")
else:
    c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"

c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# --- groups, roles and the formgrader service ------------------------------------------------
c.JupyterHub.load_groups = {
    STUDENTS: {"users": []},          # filled by the LMS roster or the admin panel
    INSTRUCTORS: {"users": [GRADER_USER]},
}
c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{GRADER_PORT}",
    "command": ["jupyterhub-singleuser", f"--port={GRADER_PORT}", "--debug",
                "--ServerApp.default_url=/formgrader"],
    "user": GRADER_USER,
    "cwd": f"/home/{GRADER_USER}",
    "environment": {"CASELIB_USAGE_LOG": "off"},
    "oauth_no_confirm": True,
}]
c.JupyterHub.load_roles = [
    {"name": "formgrader", "groups": [INSTRUCTORS],
     "scopes": [f"access:services!service={COURSE_ID}", "list:services", f"read:services!service={COURSE_ID}"]},
    {"name": "user", "scopes": ["self", "list:services", f"read:services!service={COURSE_ID}"]},
    {"name": "server", "scopes": ["inherit"]},
]

# idle servers are stopped (jupyterhub-idle-culler)
c.JupyterHub.services.append({
    "name": "idle-culler",
    "command": ["python3", "-m", "jupyterhub_idle_culler", "--timeout=3600"],
})
c.JupyterHub.load_roles.append({"name": "idle-culler", "services": ["idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers",
                                           "delete:servers"]})
