"""Ladder records: the table, the CSV, the plot, the files, the schema check, and the goals.

Lesson 04 reads the ladders measured elsewhere (`benchmarks/results/`) as much
as it runs its own, so a record has to say everything needed to trust it: the
hardware and software, which peak FLOP/s MFU is measured against and where
that number comes from, the model, and for every rung its full settings,
what it measured and why it was or was not run. `run_ladder` (course.ladder)
builds the record; this module turns it into text, CSV and a PNG, writes them
atomically, checks a record read back, and, when a reference ladder ran on
the same machine, sets each rung beside it and says which goals were met.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
from dataclasses import fields
from pathlib import Path

from course.ladder_rungs import CORE_NAMES, RungSettings, changed_fields
from course.tables import format_table as _aligned
from course.utils import atomic_write_bytes, atomic_write_text

SCHEMA = "course.ladder/1"

# ----------------------------------------------------------------------------- text


def _fmt(x, spec: str, suffix: str = "") -> str:
    return f"{x:{spec}}{suffix}" if x is not None else "-"


STATUS_LABEL = {"n/a": "n/a on this device", "skipped": "skipped", "failed": "FAILED", "interrupted": "interrupted"}


def step_spread(row: dict) -> tuple[float, float]:
    """(first, third quartile) of a measured rung's timed steps in ms: half the steps fall between.

    With one or two timed steps that is their min and max. The ladder reports the
    median; the quartiles say how far to trust a difference between two rungs.
    """
    ms = sorted(row["step_ms"])
    if len(ms) < 3:
        return ms[0], ms[-1]
    q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    return q1, q3


def clearly_different(a: dict, b: dict) -> bool:
    """Whether two measured rungs' middle halves of time per token do not overlap: more than the noise.

    Per token, not per step, so a rung that accumulates several micro-batches per
    step compares fairly with one that does not.
    """
    (a1, a3), (b1, b3) = step_spread(a), step_spread(b)
    ta, tb = a["tokens_per_step"], b["tokens_per_step"]
    return a3 / ta < b1 / tb or b3 / tb < a1 / ta


def format_row(row: dict) -> str:
    """One rung on one line: the progress line `run_ladder` logs as each rung finishes."""
    if row["status"] != "ok":
        return f"{row['index']:>2}  {row['name']:<16} {STATUS_LABEL.get(row['status'], row['status'])}  {row['note']}"
    return (
        f"{row['index']:>2}  {row['name']:<16} {row['ms_per_step']:9.1f} ms/step {row['tokens_per_sec']:>11,.0f} tokens/s "
        f"{100 * row['mfu']:5.1f}% MFU  {_fmt(row['speedup_vs_baseline'], '.2f', 'x')} vs base  {row['note']}"
    )


def format_table(record: dict) -> str:
    """The whole record as an aligned table, with the machine on the first line."""
    hw = record["hardware"]
    with_ref = any(r.get("vs_reference") is not None for r in record["rungs"])
    header = ["#", "rung", "ms/step", "middle half", "tokens/s", "MFU", "vs base", "vs prev", "1st step", "peak MB"]
    header += ["vs ref"] * with_ref + ["note"]
    rows = []
    for r in record["rungs"]:
        name = r["name"] + ("" if r["kept"] or r["status"] != "ok" else " (x)")
        if r["status"] == "ok":
            q1, q3 = step_spread(r)
            cells = [r["index"], name, f"{r['ms_per_step']:.1f}", f"{q1:.1f}-{q3:.1f}", f"{r['tokens_per_sec']:,.0f}",
                     f"{100 * r['mfu']:.1f}%", _fmt(r["speedup_vs_baseline"], ".2f", "x"),
                     _fmt(r["speedup_vs_previous"], ".2f", "x"), f"{r['first_step_s']:.2f}s",
                     _fmt(r["peak_mem_mb"], ".0f")]
        else:
            cells = [r["index"], name, STATUS_LABEL.get(r["status"], r["status"])] + ["-"] * 7
        if with_ref:
            cells.append(_fmt(r.get("vs_reference"), ".2f", "x"))
        rows.append(cells + [r["note"]])
    align = "rl" + "r" * (len(header) - 3) + "l"
    lines = [
        f"{hw['device_name']} | torch {record['software']['torch']} | peak for MFU: {hw['peak_source']}",
        _aligned(rows, header, align=align),
        "middle half: the 1st to 3rd quartile of the timed steps' ms; (x) = measured but not kept; "
        "beyond rungs start from the best kept so far",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CSV and plot

CSV_COLUMNS = (
    "index", "name", "title", "beyond", "status", "kept", "parent", "micro_batch", "grad_accum",
    "tokens_per_step", "ms_per_step", "tokens_per_sec", "mfu", "speedup_vs_baseline", "speedup_vs_previous",
    "first_step_s", "peak_mem_mb", "loss_last", "reference_tokens_per_sec", "vs_reference", "note",
    "device_name", "torch", "peak_tflops", "model", "seq_len", "matmul_precision", "autocast_dtype", "compile",
    "compile_mode", "attn_impl", "sdpa_backend", "vocab_size", "fused_adamw", "total_batch",
)


def to_csv(record: dict) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in record["rungs"]:
        flat = {**row, **row["config"]}
        flat.update(
            device_name=record["hardware"]["device_name"],
            torch=record["software"]["torch"],
            peak_tflops=round(record["hardware"]["peak_flops"] / 1e12, 3),
            model=record["profile"]["preset"],
            seq_len=record["profile"]["seq_len"],
        )
        for k, v in flat.items():
            if isinstance(v, float):
                flat[k] = round(v, 6)
        writer.writerow(flat)
    return buf.getvalue()


def plot_ladder(record: dict, ax=None, *, reference: dict | None = None):
    """Horizontal bars of tokens/s per rung; grey = measured but not kept; ticks = reference tokens/s.

    `reference` ({rung name: tokens/s}) defaults to the reference measured in
    the same run, when the record has one.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = record["rungs"]
    if reference is None:
        reference = {r["name"]: r["reference_tokens_per_sec"] for r in rows if r.get("reference_tokens_per_sec")}
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    labels, values, colors = [], [], []
    for r in rows:
        labels.append(f"{r['index']}. {r['name']}")
        ok = r["status"] == "ok"
        values.append(r["tokens_per_sec"] if ok else 0.0)
        colors.append(("#f28e2b" if r["beyond"] else "#4e79a7") if ok and r["kept"] else "#bab0ac")
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, color=colors)
    top = max(values + list(reference.values())) if any(values) else 1.0
    for yi, r, v in zip(y, rows, values):
        if r["status"] == "ok":
            text = f"{v:,.0f} tok/s  {100 * r['mfu']:.1f}% MFU"
            if r["speedup_vs_baseline"]:
                text += f"  {r['speedup_vs_baseline']:.2f}x"
        else:
            text = STATUS_LABEL.get(r["status"], r["status"])
        ax.text(v + 0.01 * top, yi, text, va="center", fontsize=7)
        if r["name"] in reference:
            ax.plot([reference[r["name"]]] * 2, [yi - 0.4, yi + 0.4], color="black", lw=1.5)
    ax.set_yticks(y, labels)
    legend = [Patch(color="#4e79a7", label="core rung"), Patch(color="#f28e2b", label="beyond, kept"),
              Patch(color="#bab0ac", label="not kept")]
    if reference:
        legend.append(Line2D([], [], color="black", lw=1.5, label="reference"))
    ax.legend(handles=legend, loc="lower right", fontsize=7)
    ax.set_xlim(0, top * 1.55)
    ax.set_xlabel("tokens / second")
    ax.set_title(f"speedup ladder: {record['hardware']['device_name']}", fontsize=9)
    return ax


def save_record(record: dict, out_dir, stem: str, *, plot: bool = True) -> dict[str, Path]:
    """Write <stem>.json, <stem>.csv and (with `plot`) <stem>.png into `out_dir`, atomically."""
    out = Path(out_dir)
    paths = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv"}
    atomic_write_text(paths["json"], json.dumps(record, indent=1, default=str) + "\n")
    atomic_write_text(paths["csv"], to_csv(record))
    if plot and record["rungs"]:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = plot_ladder(record)
        buf = io.BytesIO()
        ax.figure.tight_layout()
        ax.figure.savefig(buf, format="png", dpi=100)
        plt.close(ax.figure)
        paths["png"] = out / f"{stem}.png"
        atomic_write_bytes(paths["png"], buf.getvalue())
    return paths


# ----------------------------------------------------------------------------- schema

RECORD_KEYS = ("schema", "created", "complete", "profile", "model", "hardware", "software", "settings", "rungs")
ROW_KEYS = ("index", "name", "title", "beyond", "change", "parent", "config", "status", "note", "kept")
OK_ROW_KEYS = ("ms_per_step", "tokens_per_sec", "mfu", "speedup_vs_baseline", "speedup_vs_previous",
               "first_step_s", "peak_mem_mb", "grad_accum", "tokens_per_step", "loss_last")
STATUSES = ("ok", "n/a", "skipped", "failed", "interrupted")


class RecordError(ValueError):
    """A ladder record that does not have the expected fields."""


def validate_record(record: dict) -> dict:
    """Check a record's schema; return it. Raises RecordError naming the first problem."""
    for key in RECORD_KEYS:
        if key not in record:
            raise RecordError(f"ladder record has no {key!r} field")
    if record["schema"] != SCHEMA:
        raise RecordError(f"ladder record schema is {record['schema']!r}, expected {SCHEMA!r}")
    for key in ("device_name", "device_type", "peak_flops", "peak_source"):
        if key not in record["hardware"]:
            raise RecordError(f"ladder record's hardware has no {key!r}")
    if "torch" not in record["software"]:
        raise RecordError("ladder record's software has no torch version")
    config_fields = {f.name for f in fields(RungSettings)}
    for row in record["rungs"]:
        for key in ROW_KEYS:
            if key not in row:
                raise RecordError(f"rung {row.get('name', '?')!r} has no {key!r} field")
        if row["status"] not in STATUSES:
            raise RecordError(f"rung {row['name']!r} has unknown status {row['status']!r}")
        if set(row["config"]) != config_fields:
            raise RecordError(f"rung {row['name']!r} config fields {sorted(row['config'])} != {sorted(config_fields)}")
        if row["status"] == "ok":
            for key in OK_ROW_KEYS:
                if key not in row:
                    raise RecordError(f"measured rung {row['name']!r} has no {key!r} field")
            if not row["tokens_per_sec"] > 0:
                raise RecordError(f"rung {row['name']!r} has tokens_per_sec {row['tokens_per_sec']}")
    return record


def load_record(path) -> dict:
    return validate_record(json.loads(Path(path).read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------- the reference and the goals

# The reference ladder: a minimal independent implementation on an H100
# (torch 2.11, GPT-2 124M, B=16, T=1024), tokens/s. Not measured by this code.
REFERENCE_H100 = {
    "fp32": 41.6e3, "tf32": 86.9e3, "bf16": 95.0e3, "compile": 271e3,
    "flash": 390e3, "vocab": 406e3, "fused-adamw": 446e3,
}
REFERENCE_NOTE = (
    "reference, measured with a minimal independent implementation on an H100 "
    "(torch 2.11, B=16, T=1024); fused AdamW at B=64 gave 497k tokens/s (43.3% MFU)"
)

GOALS = {"vs_reference": 0.9, "last_core_tokens_per_sec": 500e3, "beyond_mfu": 0.55}


def merge_reference(record: dict, reference: dict[str, float], source: str) -> dict:
    """Set each rung beside the reference's tokens/s for it ({rung name: tokens/s}), measured in the same run."""
    for row in record["rungs"]:
        ref = reference.get(row["name"])
        row["reference_tokens_per_sec"] = ref
        row["vs_reference"] = row["tokens_per_sec"] / ref if ref and row["status"] == "ok" else None
    record["reference"] = {"tokens_per_sec": dict(reference), "source": source}
    return record


def _goal(goal: str, target, value, met, detail: str) -> dict:
    return {"goal": goal, "target": target, "value": value, "met": met, "detail": detail}


def evaluate_goals(record: dict, goals: dict | None = None) -> list[dict]:
    """Each goal of the GPU record, met (True), missed (False, `detail` says by how much) or unknown (None)."""
    g = {**GOALS, **(goals or {})}
    ok = {r["name"]: r for r in record["rungs"] if r["status"] == "ok"}
    out = []

    ratios = {n: ok[n]["vs_reference"] for n in CORE_NAMES if n in ok and ok[n].get("vs_reference") is not None}
    missing = [n for n in CORE_NAMES if n not in ratios]
    if ratios:
        worst = min(ratios, key=ratios.get)
        low = {n: round(v, 3) for n, v in ratios.items() if v < g["vs_reference"]}
        detail = (f"worst: {worst} at {ratios[worst]:.2f}x"
                  + (f"; under {g['vs_reference']}x: {low}" if low else "")
                  + (f"; no ratio for {missing}" if missing else ""))
        met = False if low else (None if missing else True)
        out.append(_goal("every core rung >= 0.9x the reference's tokens/s", g["vs_reference"], ratios[worst], met,
                         detail))
    else:
        out.append(_goal("every core rung >= 0.9x the reference's tokens/s", g["vs_reference"], None, None,
                         "no reference measured in this run"))

    last = ok.get(CORE_NAMES[-1])
    same = [r for r in ok.values() if last and set(changed_fields(RungSettings(**last["config"]),
                                                                  RungSettings(**r["config"])))
            <= {"micro_batch", "total_batch"}]
    if same:
        best = max(same, key=lambda r: r["tokens_per_sec"])
        v = best["tokens_per_sec"]
        met = v >= g["last_core_tokens_per_sec"]
        detail = (f"{v:,.0f} tokens/s at micro-batch {best['config']['micro_batch']} ({best['name']})"
                  + ("" if met else f": {g['last_core_tokens_per_sec'] - v:,.0f} tokens/s "
                                    f"({1 - v / g['last_core_tokens_per_sec']:.1%}) short"))
        out.append(_goal("the last core rung >= 500k tokens/s at some micro-batch", g["last_core_tokens_per_sec"],
                         v, met, detail))
    else:
        out.append(_goal("the last core rung >= 500k tokens/s at some micro-batch", g["last_core_tokens_per_sec"],
                         None, None, f"{CORE_NAMES[-1]} was not measured"))

    beyond = [r for r in ok.values() if r["beyond"]]
    peak = record["hardware"]["peak_source"]
    if beyond:
        best = max(beyond, key=lambda r: r["mfu"])
        met = best["mfu"] >= g["beyond_mfu"]
        detail = (f"{best['name']} at {best['mfu']:.1%} MFU against {peak}"
                  + ("" if met else f": {g['beyond_mfu'] - best['mfu']:.1%} points short"))
        out.append(_goal("a beyond rung >= 55% MFU", g["beyond_mfu"], best["mfu"], met, detail))
    else:
        out.append(_goal("a beyond rung >= 55% MFU", g["beyond_mfu"], None, None, "no beyond rung was measured"))

    hw, sw = record["hardware"], record["software"]
    named = {"GPU": hw.get("device_name") if hw.get("device_type") == "cuda" else None,
             "driver": hw.get("driver"), "torch": sw.get("torch"), "CUDA": sw.get("cuda")}
    absent = [k for k, v in named.items() if not v]
    out.append(_goal("the record names the GPU, driver, torch and CUDA versions", list(named), named, not absent,
                     "all named" if not absent else f"missing: {', '.join(absent)}"))
    return out


def format_goals(goals: list[dict]) -> str:
    word = {True: "met", False: "MISSED", None: "unknown"}
    return _aligned([[word[g["met"]], g["goal"], g["detail"]] for g in goals], ["", "goal", "detail"], align="lll")
