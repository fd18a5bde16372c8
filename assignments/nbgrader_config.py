"""nbgrader configuration of the caselib course (run nbgrader from this folder).

Course layout (nbgrader's defaults): ``source/<assignment>/`` (what instructors
edit, in git), ``release/``, ``submitted/``, ``autograded/``, ``feedback/`` and
``gradebook.db`` (generated, ignored by git).  The hub-wide settings (exchange
folder, course list, formgrader) are in ``deploy/``.
"""
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades


class ShortTracebacks(Preprocessor):
    """Feedback only: an error shows as ``Name: message``, without IPython's source context.

    IPython prints the lines around the failing one, which in a test cell
    include the hidden tests below a failing visible ``assert``.
    """

    enabled = True   # nbconvert skips preprocessors that are not enabled

    def preprocess_cell(self, cell, resources, index):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "caselib-radiology"

# every released notebook starts with the course header
c.IncludeHeaderFooter.header = "source/header.ipynb"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# graders read keys from caselib and the CT series from the data cache: allow for a cold cache
c.Execute.timeout = 300

# nbgrader's feedback is rendered from the autograded notebook, which holds the hidden tests
# again; strip them, and the source context of tracebacks, so that students never see them
# (caselib's graders print only feedback)
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ShortTracebacks,
                                    CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
