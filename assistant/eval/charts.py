"""Bars for reports: horizontal stacked bars as a PNG (matplotlib, imported when needed; it comes
with the finetune extra) and the same bars in the terminal."""

from __future__ import annotations

from pathlib import Path

from models.atomic import atomic_path
from models.errors import AssistantError

Segment = tuple[str, float]  # (name, share between 0 and 1)

COLOURS = {"win": "#2b8a3e", "tie": "#adb5bd", "loss": "#c92a2a", "Excellent": "#2b8a3e", "Pass": "#f08c00",
           "Fail": "#c92a2a", "skip": "#e9ecef"}
_BLOCKS = "█▓▒░"


def terminal_bars(rows: list[tuple[str, list[Segment]]], width: int = 40) -> str:
    """One line per row: a stacked bar of ``width`` characters (one shade per segment) and the shares."""
    label_w = max((len(label) for label, _ in rows), default=0)
    lines = []
    for label, segments in rows:
        bar = ""
        for i, (_, share) in enumerate(segments):
            bar += _BLOCKS[i % len(_BLOCKS)] * round(share * width)
        bar = bar[:width].ljust(width)
        legend = "  ".join(f"{_BLOCKS[i % len(_BLOCKS)]} {name} {share:.0%}" for i, (name, share) in enumerate(segments))
        lines.append(f"{label.ljust(label_w)}  {bar}  {legend}")
    return "\n".join(lines)


def stacked_png(path: Path, rows: list[tuple[str, list[Segment]]], title: str, colours: list[str] | None = None) -> Path:
    """Horizontal 100% stacked bars, one per row (like Figure 1 of the LIMA paper)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise AssistantError("Charts need matplotlib; install the finetune extra: pip install -e '.[finetune]'.") from exc
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(rows) + 1.6))
    try:
        names = [seg[0] for seg in rows[0][1]] if rows else []
        for r, (_, segments) in enumerate(rows):
            left = 0.0
            for i, (name, share) in enumerate(segments):
                colour = (colours[i] if colours else None) or COLOURS.get(name.split()[-1])
                ax.barh(r, share * 100, left=left, color=colour, edgecolor="white",
                        label=name if r == 0 else None)
                if share >= 0.06:
                    ax.text(left + share * 50, r, f"{share:.0%}", ha="center", va="center", color="white", fontsize=9)
                left += share * 100
        ax.set_yticks(range(len(rows)), [label for label, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        from matplotlib.ticker import PercentFormatter

        ax.xaxis.set_major_formatter(PercentFormatter())
        ax.set_title(title)
        if names:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(rows) < 3 else -0.12), ncol=len(names), frameon=False)
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path
