"""The comparison report: win / tie / loss per judge as a table, a PNG of stacked bars (the LIMA
paper's Figure 1) and the same bars in the terminal, plus the judge's agreement with the person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.eval.charts import stacked_png, terminal_bars
from assistant.eval.compare import PERSON, CompareRun
from assistant.eval.reports import REPORT, quote, write_text
from assistant.eval.runs import write_meta

CHART = "compare.png"
_COLOURS = ["#2b8a3e", "#adb5bd", "#c92a2a"]


def outcome(run: CompareRun, judge: str) -> dict[str, Any]:
    c = run.counts(judge)
    decided = c["first"] + c["tie"] + c["second"]
    shares = {k: (c[k] / decided if decided else 0.0) for k in ("first", "tie", "second")}
    return {"judge": judge, "counts": c, "decided": decided, "shares": shares}


def all_outcomes(run: CompareRun) -> list[dict[str, Any]]:
    judges = [PERSON] + [j for j in run.judges() if j != PERSON]
    return [o for o in (outcome(run, j) for j in judges) if o["decided"] or o["counts"]["skip"]]


def _segments(run: CompareRun, o: dict[str, Any]) -> list[tuple[str, float]]:
    first, second = run.labels
    s = o["shares"]
    return [(f"{first} wins", s["first"]), ("tie", s["tie"]), (f"{second} wins", s["second"])]


def bars(run: CompareRun) -> str:
    rows = [(o["judge"], _segments(run, o)) for o in all_outcomes(run) if o["decided"]]
    return terminal_bars(rows) if rows else "No judgments yet."


def summary(run: CompareRun) -> str:
    first, second = run.labels
    o = outcome(run, PERSON)
    if not o["decided"]:
        return f"0/{len(run.pairs)} judged"
    s = o["shares"]
    return f"{o['decided']}/{len(run.pairs)} judged: {first} {s['first']:.0%} / tie {s['tie']:.0%} / {second} {s['second']:.0%}"


def write_compare_report(run: CompareRun) -> Path:
    first, second = run.labels
    outs = all_outcomes(run)
    lines = [f"# {first} vs {second}", "",
             f"Blind pairwise preference over {len(run.pairs)} prompts. Each pair showed the two replies in a "
             "random order (reply A and reply B); the judge chose A, B, tie or skip.", "",
             f"- first: `{run.meta['first']['path']}`", f"- second: `{run.meta['second']['path']}`", "",
             f"| judge | {first} wins | tie | {second} wins | judged | skipped |", "|---|---|---|---|---|---|"]
    for o in outs:
        c, s = o["counts"], o["shares"]
        lines.append(f"| {o['judge']} | {s['first']:.0%} ({c['first']}) | {s['tie']:.0%} ({c['tie']}) | "
                     f"{s['second']:.0%} ({c['second']}) | {o['decided']} | {c['skip']} |")
    if not outs:
        lines.append("| (none yet) | | | | 0 | 0 |")
    for o in outs:
        if o["judge"] != PERSON:
            a = run.agreement(o["judge"])
            text = (f"agrees with the person on {a['agree']} of {a['both']} prompts ({a['share']:.0%})"
                    if a["both"] else "has no prompt in common with the person's judgments (nothing to agree on)")
            lines += ["", f"The judge `{o['judge']}` {text}."]
    decided = [o for o in outs if o["decided"]]
    if decided:
        stacked_png(run.folder / CHART, [(o["judge"], _segments(run, o)) for o in decided],
                    f"{first} vs {second}", _COLOURS)
        lines += ["", f"![win / tie / loss]({CHART})", "", "```", bars(run), "```"]
    lines += ["", "## Judged pairs", ""]
    person = run.judgments(PERSON)
    for pair in run.pairs:
        verdict = person.get(pair.id)
        if verdict is None:
            continue
        who = {"first": first, "second": second}.get(verdict["winner"], verdict["winner"])
        lines += [f"### {pair.id}: {who}", "", quote(pair.messages[-1]["content"] if pair.messages else ""), "",
                  f"**{first}**", "", quote(pair.first.get("reply", "")), "",
                  f"**{second}**", "", quote(pair.second.get("reply", "")), ""]
    run.meta["summary"] = summary(run)
    write_meta(run.folder, run.meta)
    return write_text(run.folder / REPORT, "\n".join(lines) + "\n")
