"""The course as a learner sees it: JupyterLab in headless Chromium (fixtures in conftest.py).

Run alone with `pytest -m browser tests/browser`; screenshots go to tests/browser/artifacts/.
What the page shows is checked against what the course (and tiktoken, independently) compute
in this process for the same text.
"""

import ast
from pathlib import Path

import pytest
import tiktoken
from labdriver import DARK, LIGHT, contrast, wait_until

import course
from course.tokenizer import RegexTokenizer
from course.viz import show_tokens

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NB00, NB02 = "00_welcome.ipynb", "02_tokenizer_pitfalls.ipynb"
TIKTOKEN = ("gpt2", "cl100k_base", "o200k_base")
# Typed into the playground key by key: a double space, a newline and an indent (whitespace-only
# tokens), gpt2's one-token " SolidGoldMagikarp", numbers, CJK and an emoji.
TYPED = "Hello  SolidGoldMagikarp!\n    x = 127 + 677  # 世界 🙂"
LONG = " SolidGoldMagikarp" * 8  # eight one-token words in gpt2: they must wrap between tokens
WCAG_TEXT, WCAG_MARK = 4.5, 3.0  # AA for text; 3:1 (non-text contrast) for whitespace markers

# Per token view on screen: the summary line, and per token span its id, hover text, text,
# number of boxes (client rects), top edge and width.
SHOWN_JS = """root => [...root.querySelectorAll('.course-tokens')].map(v => ({
  summary: v.firstElementChild.innerText.trim(),
  spans: [...v.querySelectorAll('span.tok')].map(s => {
    const rects = [...s.getClientRects()];
    return {id: Number(s.dataset.id), title: s.title, text: s.innerText, rects: rects.length,
            top: rects.length ? Math.round(rects[0].top) : null, width: s.getBoundingClientRect().width};
  })}))"""


@pytest.fixture(scope="module")
def own():
    """The notebook's own tokenizer, trained here the same way (BPE training is deterministic)."""
    tok = RegexTokenizer()
    tok.train(course.load_tinyshakespeare(), vocab_size=512)
    tok.register_special_tokens({"<|endoftext|>": 512})
    return tok


def assert_ran_clean(lab, path, upto=None):
    cells = lab.cells(path)[: None if upto is None else upto + 1]
    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, c in enumerate(cells)
        for o in c["outputs"]
        if o.get("output_type") == "error"
    ]
    assert not errors, f"{path} shows error outputs in JupyterLab: {errors}"
    not_run = [i for i, c in enumerate(cells) if c["type"] == "code" and not c["count"]]
    assert not not_run, f"{path}: cells {not_run} did not run"
    assert lab.panel(path).locator('[data-mime-type="application/vnd.jupyter.error"]').count() == 0


def assert_readable(lab, locator, minimum, what):
    samples = lab.colours(locator)
    assert samples, f"nothing to measure for {what}"
    worst = min(samples, key=contrast)
    assert contrast(worst) >= minimum, (
        f"{what}: {worst['text']!r} has contrast {contrast(worst):.2f} < {minimum} "
        f"(text {worst['color']} on {worst['bgs'][:4]})"
    )


def assert_inside(lab, inner, outer, what):
    """`inner` is drawn within `outer` horizontally, or scrolls inside a box that is."""
    box = inner.evaluate(
        """(el, outer) => {
          const o = outer.getBoundingClientRect(), r = el.getBoundingClientRect();
          return {right: r.right, outer: o.right, scroll: el.scrollWidth, client: el.clientWidth,
                  overflow: getComputedStyle(el).overflowX};
        }""",
        outer.element_handle(),
    )
    assert box["right"] <= box["outer"] + 1, f"{what} sticks out of the output area: {box}"
    if box["scroll"] > box["client"] + 1:
        assert box["overflow"] in ("auto", "scroll"), f"{what} is clipped, not scrollable: {box}"
    return box


# ----------------------------------------------------------------------------- notebook 00


def test_notebook_00_runs_clean_and_shows_the_check_table(page, artifacts):
    lab = page
    lab.open(NB00)
    lab.run_all(NB00)
    assert_ran_clean(lab, NB00)

    cell = lab.cell(NB00, lab.cell_index(NB00, 'course.check("00")'))
    out = cell.locator(".jp-OutputArea-output").first
    table = out.locator("table")
    # Expected, independently of the grader: one row per check function in the test file, each
    # "not done" because every stub in exercises/ex00.py raises NotImplementedError.
    tree = ast.parse((ROOT / "tests" / "exercises" / "test_ex00.py").read_text(encoding="utf-8"))
    checks = [
        f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test_")
    ]
    rows = [r.split("\t") for r in table.locator("tr").all_inner_texts()]
    assert rows[0] == ["result", "check", "message"]
    assert [(r[0].strip(), r[1].strip()) for r in rows[1:]] == [("not done", c) for c in checks]
    assert all("NotImplementedError" in r[2] for r in rows[1:])
    assert f"0/{len(checks)} checks pass" in out.inner_text()

    for width in (1280, 640):  # a laptop and half a screen: the table fits or scrolls
        lab.page.set_viewport_size({"width": width, "height": 900})
        lab.page.wait_for_timeout(300)
        assert_inside(lab, out.locator("div:has(> table)"), out, f"check table at {width} px")
    lab.page.set_viewport_size({"width": 1280, "height": 900})

    text = out.locator("b, th, td code, td:last-child, td > span")
    for theme, png in ((LIGHT, "check_table_light.png"), (DARK, "check_table_dark.png")):
        lab.set_theme(theme)
        assert_readable(lab, text, WCAG_TEXT, f"check table in {theme}")
        out.screenshot(path=artifacts / png)
    lab.set_theme(LIGHT)


# ----------------------------------------------------------------------------- notebook 02


def expected_view(text, name, own):
    """What the playground must show for `name`: ids, hover texts, summary line."""
    tok = own if name == "own" else name
    view = show_tokens(text, tok, name=name)
    if name == "own":
        ids, raw = own.encode_ordinary(text), own.vocab
        token_bytes = [raw[i] for i in ids]
    else:  # independently of course: tiktoken's own ids and bytes
        enc = tiktoken.get_encoding(name)
        ids = enc.encode(text, disallowed_special=())
        token_bytes = [enc.decode_single_token_bytes(i) for i in ids]
    assert view.ids == ids and view.summary().startswith(f"{name}: {len(ids)} token")
    titles = [f"id {i} \u00b7 bytes {b.hex(' ')}" for i, b in zip(ids, token_bytes)]
    return {"summary": view.summary(), "ids": ids, "titles": titles, "bytes": token_bytes}


def assert_shows(shown, expected, name):
    assert shown["summary"] == expected["summary"], name
    spans = shown["spans"]
    assert [s["id"] for s in spans] == expected["ids"], name
    for s, title, raw in zip(spans, expected["titles"], expected["bytes"]):
        # hover text: id and bytes (then "part of '界'" for a piece of a character)
        assert s["title"].startswith(title), (name, s["title"], title)
        # one unbroken box per token: a line may break between tokens, never inside one
        if b"\n" not in raw:
            assert s["rects"] == 1, f"{name}: token {raw!r} is drawn as {s['rects']} boxes"
        # every token, whitespace-only ones too, shows something
        assert s["text"].strip() and s["width"] > 0, f"{name}: token {raw!r} is invisible"


def test_playground_in_jupyterlab(page, artifacts, own):
    lab = page
    lab.open(NB02)
    index = lab.cell_index(NB02, "playground(")
    lab.run_through(NB02, index)
    assert_ran_clean(lab, NB02, upto=index)
    out = lab.cell(NB02, index).locator(".jp-OutputArea-output").first
    box = out.locator("textarea")
    picker = out.locator(".widget-dropdown select")
    side_by_side = out.locator(".widget-checkbox input[type=checkbox]")
    html = out.locator(".widget-html-content")
    names = [*TIKTOKEN, "own"]

    def shows(text, selected, timeout_s=30):
        want = {n: expected_view(text, n, own) for n in selected}

        def current():
            shown = html.evaluate(SHOWN_JS)
            return (
                shown
                if [v["summary"] for v in shown] == [w["summary"] for w in want.values()]
                else None
            )

        shown = wait_until(
            current, timeout_s, f"the playground to show {text[:30]!r} in {selected}"
        )
        for view, name in zip(shown, selected):
            assert_shows(view, want[name], name)
        return shown

    # The cell opens side by side on lesson's example text, every tokenizer in a column.
    wait_until(lambda: html.locator(".course-tokens").count() == 4, 60, "the playground widget")
    assert side_by_side.is_checked()
    shows(box.input_value(), names)

    # One tokenizer: untick side by side, type, switch the tokenizer.
    side_by_side.click()
    box.fill("")
    box.press_sequentially(TYPED)
    shows(TYPED, ["gpt2"])
    picker.select_option("cl100k_base")
    shows(TYPED, ["cl100k_base"])

    # Side by side again: four columns that fit (or scroll), nothing spilling out of a column.
    side_by_side.click()
    shows(TYPED, names)
    compare = html.locator(".course-compare")
    assert_inside(lab, compare, out, "side-by-side columns")
    assert_readable(lab, html.locator(".course-tokens > div:first-child"), WCAG_TEXT, "summaries")
    for theme, png in ((LIGHT, "playground_light.png"), (DARK, "playground_dark.png")):
        lab.set_theme(theme)
        assert_readable(lab, html.locator("span.tok"), WCAG_TEXT, f"token text in {theme}")
        assert_readable(lab, html.locator("span.ws"), WCAG_MARK, f"whitespace markers in {theme}")
        assert_readable(lab, html.locator(".course-tokens > div:first-child"), WCAG_TEXT, theme)
        out.screenshot(path=artifacts / png)
    lab.set_theme(LIGHT)

    # Long one-token words wrap between tokens, never inside one, in every column; on a narrow
    # screen the row of columns scrolls sideways instead of being clipped.
    box.fill(LONG)
    shown = shows(LONG, names)
    gpt2 = shown[0]["spans"]
    assert len(gpt2) == 8 and len({s["top"] for s in gpt2}) > 1, "gpt2's column did not wrap"
    lab.page.set_viewport_size({"width": 800, "height": 900})
    shown = shows(LONG, names)
    scrolled = assert_inside(lab, compare, out, "side-by-side columns at 800 px")
    assert scrolled["scroll"] > scrolled["client"], "four 12em columns should scroll at 800 px"
    columns = compare.locator(":scope > div")
    for k in range(columns.count()):
        spill = columns.nth(k).evaluate("el => el.scrollWidth - el.clientWidth")
        assert spill <= 1, f"column {names[k]} spills {spill} px into its neighbour"
    out.screenshot(path=artifacts / "playground_narrow.png")
