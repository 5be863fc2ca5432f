"""The blind comparison screen: the prompt, reply A and reply B side by side (which run is which
stays hidden), and one key per verdict. Every verdict is saved at once; quitting and starting the
same comparison again continues with the pairs not yet judged."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from assistant.eval.compare import PERSON, CompareRun, Pair


def _conversation(pair: Pair) -> str:
    parts = []
    for m in pair.messages:
        label = {"system": "System", "user": "User", "assistant": "Assistant"}.get(m["role"], m["role"])
        parts.append(f"{label}: {m['content']}")
    return "\n\n".join(parts)


class CompareApp(App[dict[str, int]]):
    """Returns the person's counts (first / tie / second / skip) when it exits."""

    TITLE = "assistant eval compare"
    CSS = """
    #progress { height: 1; background: $boost; padding: 0 1; }
    #prompt-box { height: auto; max-height: 40%; border: round $secondary; border-title-color: $secondary; }
    #replies { height: 1fr; }
    .reply { width: 1fr; border: round $primary; border-title-color: $primary; }
    #done { padding: 1 2; }
    """
    BINDINGS = [
        Binding("a", "judge('A')", "A is better"),
        Binding("b", "judge('B')", "B is better"),
        Binding("t", "judge('tie')", "Tie"),
        Binding("s", "judge('skip')", "Skip"),
        Binding("q", "quit", "Save and quit"),
    ]

    def __init__(self, run: CompareRun, judge: str = PERSON) -> None:
        super().__init__()
        self.run_data = run
        self.judge_name = judge
        self.queue: list[Pair] = run.pending(judge)
        self.judged_now = 0

    @property
    def current(self) -> Pair | None:
        return self.queue[0] if self.queue else None

    def compose(self) -> ComposeResult:
        yield Static(id="progress")
        with VerticalScroll(id="prompt-box"):
            yield Static(id="prompt", markup=False)
        with Horizontal(id="replies"):
            with VerticalScroll(id="left", classes="reply"):
                yield Static(id="left-text", markup=False)
            with VerticalScroll(id="right", classes="reply"):
                yield Static(id="right-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#prompt-box").border_title = "Prompt"
        self.query_one("#left").border_title = "Reply A"
        self.query_one("#right").border_title = "Reply B"
        self.show()

    def show(self) -> None:
        total = len(self.run_data.pairs)
        judged = total - len(self.queue)
        pair = self.current
        progress = self.query_one("#progress", Static)
        if pair is None:
            progress.update(f"All {total} pairs judged. Press q to write the report.")
            self.query_one("#prompt", Static).update("Nothing left to judge.")
            self.query_one("#left-text", Static).update("")
            self.query_one("#right-text", Static).update("")
            return
        progress.update(f"Pair {judged + 1} of {total} · {pair.id} · which reply is better? a / b / t (tie) / s (skip)")
        self.query_one("#prompt", Static).update(_conversation(pair))
        self.query_one("#left-text", Static).update(pair.left.get("reply", "").strip() or "(empty reply)")
        self.query_one("#right-text", Static).update(pair.right.get("reply", "").strip() or "(empty reply)")
        for pane in ("#left", "#right", "#prompt-box"):
            self.query_one(pane, VerticalScroll).scroll_home(animate=False)

    def action_judge(self, shown: str) -> None:
        pair = self.current
        if pair is None:
            self.bell()
            return
        self.run_data.record(pair, shown, self.judge_name)
        self.queue.pop(0)
        self.judged_now += 1
        self.show()

    def counts(self) -> dict[str, Any]:
        return self.run_data.counts(self.judge_name)

    async def action_quit(self) -> None:
        self.exit(self.run_data.counts(self.judge_name))
