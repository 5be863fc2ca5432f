"""``assistant data inspect``: what a pool holds, written as a report folder like ``eval``'s
(report.md + lengths.png) and printed (or given as JSON)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune.curate import dedupe
from finetune.curate.pool import SHORT_REPLY, Pool, load_pool
from models.atomic import atomic_open, atomic_path

EXAMPLES = 5  # duplicate groups shown


def inspect_pool(source: str, *, base: Any = None, max_length: int = 2048, threshold: float = dedupe.THRESHOLD,
                 shingle: int = dedupe.SHINGLE) -> tuple[Pool, dict[str, Any]]:
    pool = load_pool(source)
    good = pool.good
    dup = dedupe.find_duplicates(good, threshold=threshold, shingle=shingle)
    exact, near = dup.groups()
    rows = {r.line: r for r in pool.rows}
    short = [r.line for r in good if any(len(x.strip()) < SHORT_REPLY for x in r.replies)]

    def groups(g: dict[int, list[int]]) -> list[dict[str, Any]]:
        return [{"kept": k, "duplicates": v, "prompt": rows[k].preview()} for k, v in list(g.items())[:EXAMPLES]]

    info: dict[str, Any] = {
        "source": pool.origin, "sha256": pool.sha256, "rows": len(pool.rows), "formats": pool.formats(),
        "sources": pool.sources(), "single_turn": sum(not r.is_dialogue for r in good),
        "dialogues": sum(r.is_dialogue for r in good),
        "short_replies": {"under_chars": SHORT_REPLY, "count": len(short), "lines": short},
        "refused": [{pool.label: r.line, "reason": r.error} for r in pool.bad],
        "exact_duplicates": {"rows": len(dup.exact), "groups": len(exact), "examples": groups(exact)},
        "near_duplicates": {"rows": len(dup.near), "groups": len(near), "threshold": threshold, "shingle": shingle,
                            "examples": groups(near)},
    }
    if base is not None:
        from finetune.curate.tokens import fit_rows

        fits = fit_rows(base, good, max_length)
        lengths = sorted(f.tokens for f in fits.values())
        fit = sum(f.fits for f in fits.values())
        info["lengths"] = {"base": base.name, "template": base.template.family, "max_length": max_length,
                           "fits": fit, "share_fits": fit / len(lengths) if lengths else 0.0,
                           "cut_dialogues": sum(f.cut for f in fits.values()),
                           "p50": lengths[len(lengths) // 2] if lengths else 0,
                           "p90": lengths[int(len(lengths) * 0.9)] if lengths else 0,
                           "max": lengths[-1] if lengths else 0, "histogram": histogram(lengths, max_length)}
    return pool, info


def histogram(lengths: list[int], max_length: int, bins: int = 12) -> list[list[int]]:
    """[low, high, count] bins of equal width up to the longest (or max_length when all fit)."""
    if not lengths:
        return []
    top = max(max(lengths), max_length)
    width = max(1, -(-top // bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(n // width, bins - 1)] += 1
    return [[i * width, (i + 1) * width, c] for i, c in enumerate(counts)]


def terminal_histogram(hist: list[list[int]], max_length: int, width: int = 40) -> str:
    peak = max((c for _, _, c in hist), default=1) or 1
    out = []
    for low, high, count in hist:
        mark = " >" if low >= max_length else "  "
        out.append(f"{low:>7}-{high:<7}{mark} {'█' * round(count / peak * width):<{width}} {count}")
    return "\n".join(out)


def summary_text(info: dict[str, Any], label: str) -> str:
    lines = [f"{info['rows']} rows in {info['source']}",
             f"  formats: {', '.join(f'{k} {v}' for k, v in info['formats'].items()) or 'none'}",
             f"  sources: {', '.join(f'{k} {v}' for k, v in list(info['sources'].items())[:8])}",
             f"  single-turn {info['single_turn']}, dialogues {info['dialogues']}",
             f"  replies under {SHORT_REPLY} characters: {info['short_replies']['count']}",
             f"  finetune would refuse: {len(info['refused'])}"]
    lines += [f"    {label} {b[label]}: {b['reason']}" for b in info["refused"][:20]]
    if len(info["refused"]) > 20:
        lines.append(f"    ... {len(info['refused']) - 20} more in the report")
    e, n = info["exact_duplicates"], info["near_duplicates"]
    lines.append(f"  exact duplicates: {e['rows']} rows in {e['groups']} groups; near-duplicate prompts: "
                 f"{n['rows']} rows in {n['groups']} groups (threshold {n['threshold']:g})")
    for g in (e["examples"] + n["examples"])[:EXAMPLES]:
        lines.append(f"    {label} {g['kept']} ~ {', '.join(map(str, g['duplicates'][:6]))}: {g['prompt']}")
    if "lengths" in info:
        ln = info["lengths"]
        lines += [f"  lengths in {ln['base']} template tokens ({ln['template']}): median {ln['p50']}, 90% {ln['p90']}, "
                  f"max {ln['max']}",
                  f"  fit at --max-length {ln['max_length']} with the end of turn: {ln['fits']} rows ({ln['share_fits']:.1%})"
                  + (f", {ln['cut_dialogues']} dialogues cut at a turn boundary" if ln["cut_dialogues"] else ""),
                  terminal_histogram(ln["histogram"], ln["max_length"])]
    return "\n".join(lines)


def write_report(folder: Path, pool: Pool, info: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = ["# Data: " + pool.name, "", "```", summary_text(info, pool.label), "```", ""]
    if info["refused"]:
        text += ["## Rows finetune would refuse", "", f"| {pool.label} | reason |", "|---:|---|"]
        text += [f"| {b[pool.label]} | {str(b['reason']).replace('|', '/')} |" for b in info["refused"]]
        text.append("")
    if "lengths" in info:
        png = lengths_png(folder / "lengths.png", info["lengths"], pool.name)
        text += ["## Lengths", "", f"![lengths]({png.name})", ""]
    with atomic_open(folder / "report.md") as fh:
        fh.write("\n".join(text) + "\n")
    return folder / "report.md"


def lengths_png(path: Path, lengths: dict[str, Any], name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = lengths["histogram"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    try:
        ax.bar([lo for lo, _, _ in hist], [c for _, _, c in hist], width=[hi - lo for lo, hi, _ in hist],
               align="edge", color="#4c6ef5", edgecolor="white")
        ax.axvline(lengths["max_length"], color="#c92a2a", linestyle="--", label=f"max_length {lengths['max_length']}")
        ax.set_xlabel(f"tokens ({lengths['base']}, {lengths['template']} template)")
        ax.set_ylabel("rows")
        ax.set_title(f"{name}: {lengths['share_fits']:.1%} fit with their end of turn")
        ax.legend(frameon=False)
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path


def run_inspect(source: str, folder: Path, base: Any, max_length: int, say: Callable[[str], None] = print,
                **dedupe_kw: Any) -> dict[str, Any]:
    pool, info = inspect_pool(source, base=base, max_length=max_length, **dedupe_kw)
    info["report"] = str(write_report(folder, pool, info))
    return info
