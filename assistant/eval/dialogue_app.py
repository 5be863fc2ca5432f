"""The dialogue screen: chat with a model, then rate its reply with one key (f Fail, p Pass,
e Excellent) before the next message. Ctrl+N starts a new dialogue (with two models, the other
one; which model answers is not shown). Every turn and rating is saved as it happens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static

from assistant.engine.base import ChatEngine, GenerationParams, Message
from assistant.eval.dialogue import RATING_KEYS, Dialogue, DialogueRun
from models.errors import AssistantError

EngineFactory = Callable[[str], ChatEngine]


class DialogueApp(App[None]):
    TITLE = "assistant eval dialogue"
    CSS = """
    #status { height: 1; background: $boost; padding: 0 1; }
    #log { height: 1fr; padding: 0 1; }
    .user { color: $text-primary; margin-top: 1; }
    .assistant { margin-top: 1; }
    #rate { height: auto; padding: 0 1; background: $warning 30%; display: none; }
    #rate.show { display: block; }
    """
    BINDINGS = [
        Binding("f", "rate('f')", "Fail", show=False),
        Binding("p", "rate('p')", "Pass", show=False),
        Binding("e", "rate('e')", "Excellent", show=False),
        Binding("ctrl+n", "new_dialogue", "New dialogue"),
        Binding("escape", "stop", "Stop the reply"),
        Binding("ctrl+q", "quit", "Save and quit"),
    ]

    def __init__(self, run: DialogueRun, engine_factory: EngineFactory, params: GenerationParams,
                 system: str | None = None) -> None:
        super().__init__()
        self.run_data = run
        self.engine_factory = engine_factory
        self.params = params
        self.system = system
        self.engines: dict[str, ChatEngine] = {}
        self.dialogue: Dialogue | None = None
        self.generating = False
        self.awaiting: dict[str, Any] | None = None  # the turn waiting for its rating
        self._reply: Static | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield VerticalScroll(id="log")
        yield Static("Rate this reply:  f Fail   p Pass   e Excellent", id="rate")
        yield Input(placeholder="Write a message and press Enter", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        last = self.run_data.dialogues[-1] if self.run_data.dialogues else None
        if last is not None and last.unrated() is not None:
            self.open_dialogue(last)
            self.ask_rating(last.unrated())
        else:
            self.open_dialogue(self.run_data.new_dialogue())
        self.query_one("#prompt", Input).focus()

    # -- display ---------------------------------------------------------------------------------
    def update_status(self) -> None:
        d = self.dialogue
        assert d is not None
        who = d.model if len(self.run_data.models) == 1 else "model hidden"
        rated = sum(s["rated"] for s in self.run_data.shares().values())
        turn = sum(1 for t in d.turns if t.get("assistant") is not None)
        self.query_one("#status", Static).update(
            f"Dialogue {d.id} · {who} · {turn} replies · {rated} turns rated in all")

    def add_message(self, role: str, text: str) -> Static:
        widget = Static(text, classes=role, markup=False)
        log = self.query_one("#log", VerticalScroll)
        log.mount(widget)
        log.scroll_end(animate=False)
        return widget

    def open_dialogue(self, d: Dialogue) -> None:
        self.dialogue = d
        log = self.query_one("#log", VerticalScroll)
        log.remove_children()
        self._reply = None
        for t in d.turns:
            self.add_message("user", f"You: {t['user']}")
            if t.get("assistant") is not None:
                rating = f"  [{t['rating']}]" if t.get("rating") else ""
                self._reply = self.add_message("assistant", f"Assistant{rating}: {t['assistant']}")
        self.update_status()

    def ask_rating(self, turn: dict[str, Any] | None) -> None:
        self.awaiting = turn
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = turn is not None
        self.query_one("#rate").set_class(turn is not None, "show")
        if turn is None:
            prompt.focus()

    # -- chatting ----------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.generating or self.awaiting is not None or self.dialogue is None:
            self.bell()
            return
        event.input.value = ""
        turn: dict[str, Any] = {"user": text, "assistant": None}
        self.dialogue.turns.append(turn)
        self.add_message("user", f"You: {text}")
        self._reply = self.add_message("assistant", "Assistant: …")
        self.generating = True
        self.generate(self.dialogue, turn)

    def messages_for(self, d: Dialogue) -> list[Message]:
        out = [Message("system", self.system)] if self.system else []
        for t in d.turns:
            out.append(Message("user", t["user"]))
            if t.get("assistant") is not None:
                out.append(Message("assistant", t["assistant"]))
        return out

    @work(thread=True, exclusive=True)
    def generate(self, d: Dialogue, turn: dict[str, Any]) -> None:
        try:
            engine = self.engines.get(d.model)
            if engine is None:
                self.call_from_thread(self.show_partial, "(loading the model…)")
                engine = self.engines[d.model] = self.engine_factory(d.model)
            parts: list[str] = []
            last = None
            for chunk in engine.stream(self.messages_for(d), self.params):
                parts.append(chunk.text)
                last = chunk
                if chunk.text:
                    self.call_from_thread(self.show_partial, "".join(parts))
            stats = last.stats.as_dict() if last is not None and last.stats else {}
            reason = last.finish_reason if last is not None else None
            self.call_from_thread(self.finish_reply, d, turn, "".join(parts), reason, stats)
        except AssistantError as exc:
            self.call_from_thread(self.fail_reply, d, turn, str(exc))

    def show_partial(self, text: str) -> None:
        if self._reply is not None:
            self._reply.update(f"Assistant: {text}")
            self.query_one("#log", VerticalScroll).scroll_end(animate=False)

    def finish_reply(self, d: Dialogue, turn: dict[str, Any], text: str, reason: str | None, stats: dict[str, Any]) -> None:
        self.generating = False
        turn.update({"assistant": text, "finish_reason": reason, "stats": stats, "rating": None})
        self.run_data.save(d)
        self.show_partial(text)
        self.update_status()
        self.ask_rating(turn)

    def fail_reply(self, d: Dialogue, turn: dict[str, Any], message: str) -> None:
        self.generating = False
        if turn in d.turns:
            d.turns.remove(turn)
        if self._reply is not None:
            self._reply.remove()
        self.notify(message, severity="error", timeout=8)
        self.query_one("#prompt", Input).value = turn["user"]

    # -- actions -------------------------------------------------------------------------------------
    def action_rate(self, key: str) -> None:
        turn, d = self.awaiting, self.dialogue
        if turn is None or d is None:
            return
        turn["rating"] = RATING_KEYS[key]
        self.run_data.save(d)
        self.run_data.touch()
        if self._reply is not None:
            self._reply.update(f"Assistant  [{turn['rating']}]: {turn['assistant']}")
        self.ask_rating(None)
        self.update_status()

    def action_new_dialogue(self) -> None:
        if self.generating or self.awaiting is not None:
            self.notify("Rate the last reply (f, p or e) before starting a new dialogue.", severity="warning")
            return
        self.open_dialogue(self.run_data.new_dialogue())

    def action_stop(self) -> None:
        if self.generating and self.dialogue is not None and self.dialogue.model in self.engines:
            self.engines[self.dialogue.model].cancel()

    async def action_quit(self) -> None:
        self.action_stop()
        self.exit()
