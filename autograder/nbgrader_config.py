"""nbgrader settings for the course (the root nbgrader_config.py loads this file)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file
c.CourseDirectory.course_id = "nncourse"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"
c.IncludeHeaderFooter.header = str(ROOT / "autograder" / "lesson_header.ipynb")
c.ClearSolutions.enforce_metadata = True
c.Execute.timeout = 60
