"""The setup cell that opens every notebook, and helpers to build notebooks.

The first code cell of every notebook in `notebooks/` is exactly `SETUP_CELL`
(tests/test_notebooks.py checks it). Locally the course is already installed
(`pip install -e .`); on Colab the cell clones the repository and installs it.
"""

REPO_URL = "https://github.com/llms-from-scratch/course.git"

SETUP_CELL = f"""\
# Setup (the same in every notebook): on Colab, fetch and install the course; locally it is installed.
import sys
if "google.colab" in sys.modules and not __import__("importlib").util.find_spec("course"):
    !git clone -q --depth 1 {REPO_URL} /content/course
    %pip install -q -e /content/course
    sys.path.insert(0, "/content/course")
import course
course.setup_notebook()"""
