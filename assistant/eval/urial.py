"""A URIAL-style in-context prompt: the fair no-training baseline for a tuned model.

Lin et al. ("The Unlocking Spell on Base LLMs", the Re-Align work, 2023) showed that a base model
given a short system text and three fixed example exchanges answers much as its aligned version
does, with no training at all. The miniature gives the base model that prompt (written here, in
the spirit of URIAL's: its stated style, three exchanges in the style LIMA's replies have) so the
tuned model is compared with what prompting alone gets from the same base.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.atomic import atomic_open

SYSTEM = (
    "Below are conversations between a curious user and a helpful, honest AI assistant. The assistant "
    "answers the user's question directly and accurately, in clear, well-organised prose or lists, with "
    "as much detail as the question needs and no more. It says so when it is unsure or when a request "
    "is unsafe, and it never writes the user's next message. Each answer ends when it is complete."
)

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the difference between weather and climate?",
     "Weather is the state of the atmosphere at a given place and time: today's temperature, rain, wind "
     "and cloud. Climate is the pattern of weather over a long period, usually thirty years or more.\n\n"
     "A simple way to remember it: weather tells you what to wear today, climate tells you which clothes "
     "to own. A cold day in July does not change a region's climate, but a run of warmer decades does."),
    ("Can you give me three tips for sleeping better?",
     "Here are three habits that help most people sleep better:\n\n"
     "1. **Keep a regular schedule.** Go to bed and get up at the same time every day, weekends included. "
     "It sets your body clock.\n"
     "2. **Make the bedroom dark, quiet and cool.** Around 18 °C suits most people.\n"
     "3. **Stop screens and caffeine early.** No coffee after lunch, and put the phone away an hour "
     "before bed.\n\n"
     "If poor sleep goes on for weeks despite this, it is worth talking to a doctor."),
    ("Write a haiku about autumn.",
     "Red leaves drift and fall,\nthe cold wind hums through bare trees,\nthe year exhales slow."),
)


def urial_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The URIAL system text (joined with the prompt's own system text, if any) and the three
    example exchanges before the prompt's turns."""
    own = [m["content"] for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    system = SYSTEM + ("\n\n" + "\n\n".join(own) if own else "")
    shots = [m for q, a in EXAMPLES for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
    return [{"role": "system", "content": system}, *shots, *rest]


def write_urial_prompts(source: Path, out: Path) -> Path:
    """A prompt file (``messages`` rows, same ids) with the URIAL prefix on every prompt."""
    from assistant.eval.promptset import load_prompts

    prompts = load_prompts(source)
    with atomic_open(out) as fh:
        for p in prompts.prompts:
            row: dict[str, Any] = {"id": p.id, "messages": urial_messages(p.messages)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out
