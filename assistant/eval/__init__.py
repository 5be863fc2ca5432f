"""``assistant eval``: the LIMA paper's instruments for your own models, in the terminal.

generate (one reply per prompt, resumable) -> stats (how replies end) -> compare (blind pairwise
preference, by a person or a judge model) and dialogue (rate each assistant turn Fail / Pass /
Excellent) -> Markdown + PNG reports in each run folder; ``lima_mini`` runs the whole loop.
"""
