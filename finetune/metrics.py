"""Metrics JSONL (one object per optimizer step, plus one ``kind: epoch`` object per epoch with the
held-out stop diagnostics) and a PNG in the run folder: the loss curve above, stopping below."""

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
        steps_rows = [r for r in self.rows if r.get("kind") != "epoch"]
        epoch_rows = [r for r in self.rows if r.get("kind") == "epoch" and "val_eot_p_end" in r]
        if not steps_rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = 2 if epoch_rows else 1
        fig, axes = plt.subplots(panels, 1, figsize=(7, 4 * panels), dpi=100, squeeze=False)
        ax = axes[0][0]
        steps = [r["step"] for r in steps_rows]
        ax.plot(steps, [r["loss"] for r in steps_rows], label="train loss", linewidth=1)
        per_epoch: dict[int, list[float]] = {}
        for r in steps_rows:
            per_epoch.setdefault(r["epoch"], []).append(r["loss"])
        ends = [max(r["step"] for r in steps_rows if r["epoch"] == e) for e in per_epoch]
        style = "o-" if len(per_epoch) <= 30 else "-"
        ax.plot(ends, [sum(v) / len(v) for v in per_epoch.values()], style, label="epoch mean", linewidth=1.5)
        val = [r for r in epoch_rows if "val_loss" in r]
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "s--", label="held-out reply loss", linewidth=1)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (assistant tokens)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
        lr_ax = ax.twinx()
        lr_ax.plot(steps, [r["lr"] for r in steps_rows], color="gray", alpha=0.4, linewidth=1)
        lr_ax.set_ylabel("learning rate", color="gray")
        if epoch_rows:
            self._plot_stopping(axes[1][0], epoch_rows)
        fig.tight_layout()
        tmp = png.with_name(f".{png.name}.tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(png)

    @staticmethod
    def _plot_stopping(ax: Any, rows: list[dict[str, Any]]) -> None:
        x = [r["epoch"] for r in rows]
        ax.plot(x, [r["val_eot_p_end"] for r in rows], "o-", label="held-out p(EOT) at reply ends")
        ax.plot(x, [r["val_eot_top1_end"] for r in rows], "s-", label="share of ends with EOT top-1")
        ax.plot(x, [r["val_eot_p_inside"] for r in rows], "^-", label="p(EOT) inside replies (should stay low)")
        dev = [r for r in rows if r.get("dev_eot_stop_share") is not None]
        if dev:
            ax.plot([r["epoch"] for r in dev], [r["dev_eot_stop_share"] for r in dev], "D:",
                    label=f"dev replies ended (within {dev[-1].get('dev_max_new_tokens')} tokens)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_ylabel("end of turn")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-step rows of a run's metrics.jsonl (``kind: epoch`` rows are the stop diagnostics)."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r for r in rows if r.get("kind") != "epoch"]
