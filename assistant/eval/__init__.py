"""``assistant eval``: the LIMA paper's instruments for your own models, in the terminal.

generate (one reply per prompt, resumable) -> stats (how replies end) -> compare (blind pairwise
preference, by a person or a judge model) and dialogue (rate each assistant turn Fail / Pass /
Excellent) -> Markdown + PNG reports in each run folder; ``lima_mini`` runs the whole loop.

    cli_impl.py       the subcommands' bodies (click definitions: commands/eval_cmd.py)
    promptset.py      prompt sets; runs.py: run folders; generate.py: one reply per prompt, resumable
    stats.py          how replies end (clean stop, degenerate, length) per run
    compare.py        blind pairs and verdicts; compare_app.py: the screen; judge.py: a model as judge
    dialogue.py       multi-turn ratings (LIMA 4.4); dialogue_app.py: the screen
    *_report.py       compare, dialogue and LIMA-mini reports; reports.py: the listing; charts.py: bars
    urial.py          the in-context (URIAL) baseline; lima_mini.py: the whole loop in miniature
"""
