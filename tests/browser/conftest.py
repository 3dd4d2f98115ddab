"""Fixtures for the browser suite: JupyterLab on 127.0.0.1 and headless Chromium driving it.

The suite sees the course as a learner does: the real JupyterLab of the course's environment,
the real widget and HTML renderers, the real themes. It works on copies of the notebooks in a
temporary folder (the repository's notebooks are never opened by the browser), and it stops
JupyterLab (its whole process group) and the browser whatever happens.

Chromium comes from the system (Debian's `chromium` package): Playwright drives it through
`executable_path`, because Playwright's own browser download needs the network. Without a
browser a learner's test run skips the suite and names the command that installs one; under
CI=true a missing browser is an error, so CI can never pass by skipping it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from labdriver import CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of every check land here (the README names this folder); CI keeps it as artifacts.
ARTIFACTS = Path(
    os.environ.get("COURSE_BROWSER_ARTIFACTS", ROOT / "tests" / "browser" / "artifacts")
)
NOTEBOOKS = ["00_welcome.ipynb", "02_tokenizer_pitfalls.ipynb"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return require_chromium()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(settings: Path) -> None:
    """JupyterLab user settings for the run: every cell in the DOM (no virtual scrolling, so the
    checks see all outputs), and no news or update checks (offline)."""
    files = {
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
    }
    for rel, value in files.items():
        path = settings / "@jupyterlab" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")


def _copy_notebooks(dest: Path) -> None:
    """Copies without outputs: what the checks see is what this run computed."""
    for name in NOTEBOOKS:
        nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        (dest / name).write_text(json.dumps(nb, indent=1), encoding="utf-8")


@pytest.fixture(scope="session")
def lab(chromium_path, tmp_path_factory):
    """A JupyterLab server of this environment on 127.0.0.1: (base URL, token, notebook folder)."""
    tmp = tmp_path_factory.mktemp("lab")
    root, home = tmp / "notebooks", tmp / "jupyter"
    root.mkdir()
    _copy_notebooks(root)
    _lab_settings(home / "settings")
    token, port = os.urandom(16).hex(), _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        # the kernel imports this checkout's `course`, whatever is installed
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "jupyterlab.log", "w")  # noqa: SIM115  (closed in finally)
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited ({proc.returncode}):\n{_tail(tmp / 'jupyterlab.log')}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer in 120 s:\n{_tail(tmp / 'jupyterlab.log')}")
            time.sleep(0.5)
        yield url, token, root
    finally:
        _stop(proc)
        log.close()


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:]


def _stop(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and its kernels: the whole process group, politely first, then for sure
    (a kernel that outlived the server is still in the group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # nothing left in the group
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # launch() gives the browser a fresh, temporary profile (--user-data-dir) of its own.
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, lab):
    """A fresh JupyterLab page (1280x900, light theme) on the lab's notebook folder."""
    from labdriver import JupyterLab

    url, token, root = lab
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    try:
        pg = context.new_page()
        jl = JupyterLab(pg, url, token)
        jl.start()
        yield jl
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter):
    """Say why the browser tests were skipped even without -rs: the fix is one command."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "browser tests skipped" in reason:
            terminalreporter.write_line(reason.removeprefix("Skipped: "), yellow=True)
            return
