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


def _code_units():
    """(where, source) of every Python file and notebook code cell a learner runs or reads."""
    import json

    for folder in ("course", "notebooks", "exercises", "solutions", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
        for path in sorted((ROOT / folder).rglob("*.ipynb")):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            for i, cell in enumerate(cells):
                if cell["cell_type"] == "code":
                    source = "".join(cell["source"])
                    # IPython's %magics and !shell lines are not Python
                    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                       for line in source.splitlines())
                    yield f"{path.relative_to(ROOT)} cell {i}", source


def _changed_api_uses(where: str, source: str) -> list[str]:
    """torch.load without an explicit weights_only (its default flipped in torch 2.6), and the
    `datasets` features that 4.x removed: trust_remote_code and loading scripts (.py)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f, keywords = node.func, {k.arg for k in node.keywords}
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        owner = getattr(f.value, "id", None) if isinstance(f, ast.Attribute) else None
        if name == "load" and owner == "torch" and "weights_only" not in keywords:
            found.append(f"{where}:{node.lineno}: torch.load without weights_only")
        if "trust_remote_code" in keywords:
            found.append(f"{where}:{node.lineno}: trust_remote_code (datasets 4 runs no loading scripts)")
        if name == "load_dataset" and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).endswith(".py"):
            found.append(f"{where}:{node.lineno}: a datasets loading script")
    return found


def test_no_api_whose_default_or_existence_changed_recently():
    found = [hit for where, source in _code_units() for hit in _changed_api_uses(where, source)]
    assert found == [], "\n".join(found)


def test_the_changed_api_check_catches_what_it_should():
    sample = "\n".join([
        "import torch, datasets",
        "torch.load('a.pt')",
        "torch.load('a.pt', weights_only=True)",
        "datasets.load_dataset('x/y', trust_remote_code=True)",
        "datasets.load_dataset('my_loader.py')",
        "datasets.load_dataset('x/y', split='train')",
        "model.load('a.pt')",
    ])
    assert [hit.split(":")[1] for hit in _changed_api_uses("sample", sample)] == ["2", "4", "5"]
