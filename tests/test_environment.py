"""pyproject.toml, environment.yml and constraints.txt describe one environment: they must not drift apart."""

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

from pip._vendor.packaging.markers import Marker
from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"], project["requires-python"]


def _environment_yml():
    """The pip requirements and python spec of environment.yml (a tiny, strict reader:
    PyYAML is not a course dependency, and the file's shape is fixed)."""
    pip, python, in_pip = [], None, False
    for raw in (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        item = line.strip()
        if item == "- pip:":
            in_pip = True
        elif in_pip and raw.startswith(" " * 6 + "- "):
            pip.append(item[2:].strip())
        elif item.startswith("- python"):
            python = item[2:].strip()
    return pip, python


def test_same_packages_and_versions():
    pyproject, _ = _pyproject_requirements()
    env, _ = _environment_yml()
    env = [r for r in env if r not in ("-e .", "-c constraints.txt")]
    assert sorted(env, key=_name) == sorted(pyproject, key=_name), (
        "environment.yml's pip list must equal pyproject.toml's dependencies + dev extra "
        f"(only in pyproject: {sorted(set(pyproject) - set(env))}, only in environment.yml: {sorted(set(env) - set(pyproject))})"
    )


def test_environment_installs_the_course_itself():
    env, _ = _environment_yml()
    assert "-e ." in env, "environment.yml should install the course package itself (- -e .)"


def test_same_python():
    _, requires_python = _pyproject_requirements()
    _, env_python = _environment_yml()
    assert env_python == "python" + requires_python, f"python spec differs: {env_python!r} vs requires-python {requires_python!r}"


def test_course_dependencies_present():
    pyproject, _ = _pyproject_requirements()
    names = {_name(r) for r in pyproject}
    for needed in ["jupyterlab", "torch", "tiktoken", "regex", "matplotlib", "ipywidgets", "nbval", "datasets", "tqdm"]:
        assert needed in names, f"{needed} is a course dependency but missing from pyproject.toml"


def _constraints() -> dict[str, list[Requirement]]:
    """{normalised name: its pins} of constraints.txt (a name may have one pin per Python range)."""
    pins: dict[str, list[Requirement]] = {}
    for raw in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins.setdefault(_name(req.name), []).append(req)
    return pins


def test_constraints_pin_every_dependency_within_its_range():
    pyproject, _ = _pyproject_requirements()
    env, _ = _environment_yml()
    named = [r for r in pyproject + env if r not in ("-e .", "-c constraints.txt")]
    pins = _constraints()
    for spec in named:
        req = Requirement(spec)
        assert _name(req.name) in pins, f"{req.name} is a dependency but constraints.txt does not pin it"
        for pin in pins[_name(req.name)]:
            (op, version), = [(s.operator, s.version) for s in pin.specifier]
            assert op == "==", f"constraints.txt must pin exact versions: {pin}"
            assert req.specifier.contains(version, prereleases=True), (
                f"constraints.txt pins {pin}, outside pyproject's {spec}")


def test_constraints_have_one_pin_per_python_and_markers_that_parse():
    for name, reqs in _constraints().items():
        for py in ("3.10.0", "3.11.0", "3.11.7", "3.12.0", "3.13.0"):
            env = {"python_version": py.rsplit(".", 1)[0], "python_full_version": py}
            active = [r for r in reqs if r.marker is None or Marker(str(r.marker)).evaluate(env)]
            assert len(active) <= 1, f"{name}: {len(active)} pins apply on Python {py}"


def test_setup_uses_the_constraints_by_default_and_documents_latest():
    script = (ROOT / "setup.sh").read_text(encoding="utf-8")
    assert '-e ".[dev]" -c constraints.txt' in script
    assert "--latest)" in script and "--no-lab)" in script
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./setup.sh --latest" in readme and "constraints.txt" in readme
