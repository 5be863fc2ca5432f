"""What the chat app's parts share: its state (history, session, engine host, defaults), the status
line, and loading a model in a thread worker (so the UI never waits for llama.cpp)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import App
from textual.widgets import Static

from assistant.engine.base import GenerationParams, ModelInfo
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.tui.engine_host import EngineHost
from assistant.tui.reply import ReplyJob
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.prompt import PromptInput
from assistant.tui.widgets.status import StatusLine
from models.errors import AssistantError


class ChatAppBase(App[None]):
    history: History
    session: ChatSession
    host: EngineHost
    default_params: GenerationParams
    default_system: str | None
    list_models: Callable[[], list[Any]]
    job: ReplyJob | None = None
    theme_file: Any = None  # where the light/dark choice is kept

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def show_title(self) -> None:
        conv = self.session.conversation
        self.query_one("#title", Static).update(conv.title if conv and conv.title else "New chat")

    def set_state(self, state: str) -> None:
        self.status.state = state
        # A blinking cursor repaints twice a second: UI time taken from the engine while it generates.
        self.query_one(PromptInput).cursor_blink = state != "generating"

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_focus_messages(self) -> None:
        views = self.query_one(ChatLog).messages()
        if views:
            views[-1].focus()
            views[-1].scroll_visible()

    def action_scroll_log(self, pages: int) -> None:
        """Shift+PgUp/PgDn from the input; Textual's anchor follows the reply again at the bottom."""
        log = self.query_one(ChatLog)
        if pages < 0:
            log.release_anchor()
            log.scroll_page_up(animate=False)
        else:
            log.scroll_page_down(animate=False)

    # -- the model -------------------------------------------------------------------------------
    @work(thread=True, group="load", exclusive=True, exit_on_error=False)
    def load_model(self, name: str | None) -> None:
        self.call_from_thread(self._loading, name)
        try:
            info = self.host.load(name)
        except AssistantError as exc:
            self.call_from_thread(self._load_failed, name, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown as a notification, the app stays up
            self.call_from_thread(self._load_failed, name, f"Loading the model failed ({type(exc).__name__}: {exc}).")
        else:
            self.call_from_thread(self._loaded, name, info)

    def _loading(self, name: str | None) -> None:
        self.set_state(f"loading {name or self.session.model}…")

    def _loaded(self, name: str | None, info: ModelInfo) -> None:
        if name is not None:
            self.session.switch_model(self.host, name)
            self.notify(f"Now chatting with {name}.", title="Model")
        status = self.status
        status.model = self.session.model
        status.backend = info.backend
        status.context_size = info.context_length
        status.tokens_per_second = 0.0
        self.set_state("generating" if self.job else "idle")
        for warning in info.warnings:
            self.notify(warning, severity="warning", title="Model", timeout=10)

    def _load_failed(self, name: str | None, error: str) -> None:
        self.set_state("generating" if self.job else ("idle" if self.host.inner else "no model"))
        self.notify(error, severity="error", title="Model failed to load", timeout=15, markup=False)

    # -- theme -------------------------------------------------------------------------------------
    def _load_theme(self) -> None:
        if self.theme_file is None:
            return
        try:
            name = json.loads(self.theme_file.read_text()).get("theme")
        except (OSError, ValueError, AttributeError):
            return
        if name in self.available_themes:
            self.theme = name

    def save_theme(self) -> None:
        if self.theme_file is None:
            return
        from models.atomic import write_json
        from models.paths import ensure_dir

        try:
            ensure_dir(self.theme_file.parent)
            write_json(self.theme_file, {"theme": self.theme})
        except OSError:
            pass

    def refresh_sidebar(self) -> None:  # the conversation list (Tools)
        raise NotImplementedError
