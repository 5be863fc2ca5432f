"""Metrics JSONL (one object per optimizer step) and a PNG loss curve in the run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, path: Path, resume_from_step: int = 0) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.exists():  # keep the steps before the resume point, drop any after it
            for line in path.read_text().splitlines():
                row = json.loads(line) if line.strip() else None
                if row and row.get("step", 0) <= resume_from_step:
                    self.rows.append(row)
        path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def plot(self, png: Path, title: str) -> None:
        if not self.rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in self.rows]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        ax.plot(steps, [r["loss"] for r in self.rows], label="train loss", linewidth=1)
        per_epoch: dict[int, list[float]] = {}
        for r in self.rows:
            per_epoch.setdefault(r["epoch"], []).append(r["loss"])
        ends = [max(r["step"] for r in self.rows if r["epoch"] == e) for e in per_epoch]
        style = "o-" if len(per_epoch) <= 30 else "-"
        ax.plot(ends, [sum(v) / len(v) for v in per_epoch.values()], style, label="epoch mean", linewidth=1.5)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (assistant tokens)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
        lr_ax = ax.twinx()
        lr_ax.plot(steps, [r["lr"] for r in self.rows], color="gray", alpha=0.4, linewidth=1)
        lr_ax.set_ylabel("learning rate", color="gray")
        fig.tight_layout()
        tmp = png.with_name(f".{png.name}.tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(png)
