"""Drive a JupyterLab page from Playwright, and measure what it shows.

Cells run through JupyterLab's own commands (the ones behind the Run menu), reached through
`window.jupyterapp` (JupyterLab's `expose_app_in_browser` switch, which its own UI tests use);
widgets are driven as a learner drives them: typing, picking from a dropdown, ticking a box.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import time
from pathlib import Path

import pytest

LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
# The one command a learner runs to get a browser (the skip message names it).
INSTALL = (
    "brew install --cask chromium"
    if platform.system() == "Darwin"
    else "sudo apt-get install -y chromium"
)
# Flags that let Chromium run headless as root in a container, with no network chatter.
# (Playwright's launch() adds a fresh temporary profile, --user-data-dir, of its own.)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The browser to drive: $COURSE_CHROMIUM, else a Chromium or Chrome on PATH (or macOS's)."""
    if os.environ.get("COURSE_CHROMIUM"):
        return os.environ["COURSE_CHROMIUM"]
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    return MAC_CHROME if Path(MAC_CHROME).exists() else None


def missing(what: str) -> None:
    """Skip on a learner's machine, fail in CI: a browser suite that skips in CI tests nothing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {what}: the browser suite must run in CI", pytrace=False)
    pytest.skip(f"browser tests skipped: {what}")


def require_chromium() -> str:
    """The path of the browser, or a skip (a learner's run) / failure (CI) that says what to do."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the Python package playwright is not installed (pip install -e '.[dev]')")
    path = find_chromium()
    if path is None:
        missing(f"no Chromium found; install it with: {INSTALL}")
    if not Path(path).is_file():
        missing(
            f"the browser {path} does not exist (COURSE_CHROMIUM?); install one with: {INSTALL}"
        )
    return path


# Find an open notebook panel by path (JS prelude used by the calls below).
_FIND = """
const app = window.jupyterapp;
const find = (path) => {
  for (const w of app.shell.widgets('main')) if (w.context && w.context.path === path) return w;
  throw new Error('notebook not open: ' + path);
};
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ' timed out')), ms))]);
"""


class JupyterLab:
    def __init__(self, page, url: str, token: str):
        self.page, self.url, self.token = page, url, token

    def start(self) -> None:
        # The token travels in the URL, as in the link `jupyter lab` prints.
        self.page.goto(f"{self.url}/lab?token={self.token}", wait_until="domcontentloaded")
        self.page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
        self.page.evaluate("async () => { await window.jupyterapp.restored; }")
        if self.page.evaluate("() => document.body.dataset.jpThemeLight") != "true":
            self.set_theme(LIGHT)  # a test that failed in the dark theme left it set

    def js(self, body: str, arg=None):
        """Run an async JS function body with `app`, `find` and `withTimeout` in scope."""
        return self.page.evaluate(f"async (arg) => {{ {_FIND}\n{body} }}", arg)

    # -- notebooks

    def open(self, path: str) -> None:
        self.js(
            """
            const w = await app.commands.execute('docmanager:open', {path: arg, factory: 'Notebook'});
            await w.context.ready; await w.sessionContext.ready;
            app.shell.activateById(w.id);
            return null;""",
            path,
        )
        self.panel(path).locator(".jp-Cell").first.wait_for()

    def panel(self, path: str):
        wid = self.js("return find(arg).id;", path)
        return self.page.locator(f'[id="{wid}"]')

    def run_all(self, path: str, timeout_s: float = 300) -> None:
        self.js(
            """
            const w = find(arg.path); app.shell.activateById(w.id);
            await withTimeout(app.commands.execute('notebook:run-all-cells'), arg.ms, 'run all');
            return null;""",
            {"path": path, "ms": int(timeout_s * 1000)},
        )

    def run_through(self, path: str, index: int, timeout_s: float = 300) -> None:
        """Run the cells above cell `index`, then cell `index` (Run > Run All Above Selected Cell)."""
        self.js(
            """
            const w = find(arg.path); app.shell.activateById(w.id);
            w.content.activeCellIndex = arg.index; w.content.deselectAll();
            await withTimeout(app.commands.execute('notebook:run-all-above'), arg.ms, 'run above');
            w.content.activeCellIndex = arg.index; w.content.deselectAll();
            await withTimeout(app.commands.execute('notebook:run-cell'), arg.ms, 'run cell');
            return null;""",
            {"path": path, "index": index, "ms": int(timeout_s * 1000)},
        )

    def cells(self, path: str) -> list[dict]:
        """Every cell's type, source, execution count and outputs (nbformat JSON), from the model."""
        return self.js(
            """
            const cells = find(arg).content.model.cells, out = [];
            for (let i = 0; i < cells.length; i++) {
              const c = cells.get(i);
              out.push({type: c.type, source: c.sharedModel.getSource(),
                        count: c.type === 'code' ? c.executionCount : null,
                        outputs: c.type === 'code' ? c.outputs.toJSON() : []});
            }
            return out;""",
            path,
        )

    def cell_index(self, path: str, snippet: str) -> int:
        for i, c in enumerate(self.cells(path)):
            if c["type"] == "code" and snippet in c["source"]:
                return i
        raise AssertionError(f"no code cell of {path} contains {snippet!r}")

    def cell(self, path: str, index: int):
        return self.panel(path).locator(".jp-Cell").nth(index)

    # -- themes

    def set_theme(self, theme: str) -> None:
        self.js(
            "await app.commands.execute('apputils:change-theme', {theme: arg}); return null;", theme
        )
        light = "true" if theme == LIGHT else "false"
        self.page.wait_for_function(
            f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000
        )
        self.page.wait_for_timeout(500)  # let the new stylesheet apply before measuring

    # -- measuring

    def colours(self, locator) -> list[dict]:
        """For each element: its text, its computed text colour, and the background colours of it
        and its ancestors (innermost first), to compute the contrast a reader sees."""
        return locator.evaluate_all(
            """els => els.map(el => {
              const bgs = [];
              for (let e = el; e; e = e.parentElement) bgs.push(getComputedStyle(e).backgroundColor);
              return {text: el.innerText, color: getComputedStyle(el).color, bgs};
            })"""
        )


def wait_until(fn, timeout_s: float = 30, what: str = "condition"):
    """Poll `fn` until it returns something truthy; return it, or fail naming `what`."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            if value := fn():
                return value
        except AssertionError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout_s} s waiting for {what}" + (f": {last}" if last else "")
    )


# -- WCAG 2 contrast, computed from the browser's computed colours

_RGBA = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")


def parse_colour(css: str) -> tuple[float, float, float, float]:
    m = _RGBA.fullmatch(css.strip())
    if not m:
        raise AssertionError(f"cannot read the computed colour {css!r}")
    r, g, b, a = m.groups()
    alpha = 1.0 if a is None else (float(a[:-1]) / 100 if a.endswith("%") else float(a))
    return float(r), float(g), float(b), alpha


def _over(top, bottom):
    """Composite colour `top` (with alpha) over an opaque `bottom`."""
    a = top[3]
    return tuple(top[i] * a + bottom[i] * (1 - a) for i in range(3)) + (1.0,)


def _luminance(rgb) -> float:
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(sample: dict) -> float:
    """WCAG contrast ratio of the text colour against the background it is drawn on (the page
    is white under everything, as in a browser)."""
    bg = (255.0, 255.0, 255.0, 1.0)
    for layer in reversed(sample["bgs"]):
        bg = _over(parse_colour(layer), bg)
    fg = _over(parse_colour(sample["color"]), bg)
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
