"""Hub-wide nbgrader settings: install as /etc/jupyter/nbgrader_config.py in every user image.

Students and instructors share one exchange folder (a shared volume on
Kubernetes, see helm/values.yaml).  The course's own settings (header,
feedback without hidden tests) stay in the course folder's
nbgrader_config.py (assignments/nbgrader_config.py in the repository).
"""
c = get_config()  # noqa: F821 - provided by nbgrader

#: where released assignments, submissions and feedback travel (mounted from a shared volume)
EXCHANGE_ROOT = "/srv/nbgrader/exchange"
#: the course id of assignments/nbgrader_config.py
COURSE_ID = "caselib-radiology"

c.Exchange.root = EXCHANGE_ROOT
c.Exchange.path_includes_course = True
c.CourseDirectory.course_id = COURSE_ID
# students see the assignments of their courses (JupyterHub groups nbgrader-<course>)
c.Exchange.assignment_dir = "."
