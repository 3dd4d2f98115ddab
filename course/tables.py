"""Plain-text tables: the one formatter behind every table the course prints.

Lessons 02 (token counts per tokenizer), 04 (the speedup ladder) and the
commands print aligned tables to notebooks and terminals; they share this one
function so that alignment rules live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[Sequence], header: Sequence[str] | None = None, *,
                 align: str | None = None, sep: str = "  ", rule: bool = True) -> str:
    """Rows of cells as aligned text; cells are str()-ed.

    align: one letter per column, "l" or "r" (default: first column left, the
    rest right, which suits a label followed by numbers). With `rule`, a line
    of dashes follows the header.
    """
    table = [[str(c) for c in row] for row in rows]
    if header is not None:
        table.insert(0, [str(h) for h in header])
    if not table:
        return ""
    ncols = max(len(r) for r in table)
    for r in table:
        r.extend([""] * (ncols - len(r)))
    align = align or "l" + "r" * (ncols - 1)
    if len(align) != ncols or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {ncols} letters 'l'/'r', got {align!r}")
    widths = [max(len(r[i]) for r in table) for i in range(ncols)]

    def line(r):
        cells = (c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align))
        return sep.join(cells).rstrip()

    lines = [line(r) for r in table]
    if header is not None and rule:
        lines.insert(1, sep.join("-" * w for w in widths))
    return "\n".join(lines)
