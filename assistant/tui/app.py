"""``assistant chat``: the Textual chat app. The first paint comes before the model is loaded (it
loads in a thread worker, visibly); replies stream from another thread worker; all history goes
through ``ChatSession`` and ``History``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from assistant.engine.base import GenerationParams, ModelInfo
from assistant.history import History
from assistant.session import ChatSession
from assistant.tui.actions import ACTIONS, bindings
from assistant.tui.chat_actions import ChatActions
from assistant.tui.engine_host import EngineFactory, EngineHost
from assistant.tui.tools import ModelChoice, Tools, available_models
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.prompt import PromptInput
from assistant.tui.widgets.sidebar import Sidebar
from assistant.tui.widgets.status import StatusLine
from models.errors import AssistantError

MODAL_ACTIONS = {"quit", "help", "toggle_theme", "command_palette"}  # the keys that also work over a dialog
WIDE = 100  # columns from which the conversation list shows at start


class ChatApp(ChatActions, Tools, App[None]):
    CSS_PATH = "chat.tcss"
    TITLE = "assistant"
    BINDINGS = bindings()

    def __init__(self, *, history: History, engine_factory: EngineFactory, model: str, params: GenerationParams,
                 system: str | None = None, conversation_id: int | None = None, new: bool = False,
                 list_models: Callable[[], list[ModelChoice]] = available_models, load_model: bool = True,
                 frozen_time: float | None = None, theme_file: Any = None) -> None:
        super().__init__()
        self.history = history
        self.host = EngineHost(engine_factory)
        self.default_params, self.default_system = params, system
        self.session = ChatSession(self.host, history, model=model, params=params, system=system)
        self.start_conversation = conversation_id
        self.start_new = new
        self.list_models = list_models
        self.load_at_start = load_model
        self.frozen_time = frozen_time
        self.theme_file = theme_file
        self.first_paint_at = 0.0
        self.model_ready: asyncio.Event = asyncio.Event()
        self._load_theme()

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield Static("", id="title", markup=False)
                yield ChatLog(id="log")
                yield PromptInput(id="prompt")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    async def on_mount(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.now = self.frozen_time
        sidebar.display = self.size.width >= WIDE
        self.status.model = self.session.model
        await self._open_start_conversation()
        self.refresh_sidebar()
        self.action_focus_prompt()
        self.call_after_refresh(self._first_paint)

    def _first_paint(self) -> None:
        self.first_paint_at = time.perf_counter()
        if self.load_at_start:
            self.load_model(None)

    async def _open_start_conversation(self) -> None:
        conv_id = self.start_conversation
        if conv_id is None and not self.start_new:
            last = self.history.last_conversation()
            conv_id = last.id if last else None
        if conv_id is not None:
            try:
                self.session.open(conv_id)
            except AssistantError as exc:
                self.notify(str(exc), severity="error")
        await self.show_thread()

    def show_title(self) -> None:
        conv = self.session.conversation
        self.query_one("#title", Static).update(conv.title if conv and conv.title else "New chat")

    def set_state(self, state: str) -> None:
        self.status.state = state

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_focus_messages(self) -> None:
        views = self.query_one(ChatLog).messages()
        if views:
            views[-1].focus()
            views[-1].scroll_visible()

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
        self.model_ready.set()

    def _load_failed(self, name: str | None, error: str) -> None:
        self.set_state("generating" if self.job else ("idle" if self.host.inner else "no model"))
        self.notify(error, severity="error", title="Model failed to load", timeout=15)

    # -- palette, keys over dialogs, quit ----------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for a in ACTIONS:
            yield SystemCommand(a.title, f"{a.help}  [{a.shown or a.keys}]", self._palette_callback(a.action))

    def _palette_callback(self, action: str) -> Callable[[], Any]:
        async def run() -> None:
            await self.run_action(action)

        return run

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action not in MODAL_ACTIONS:
            return False
        return True

    async def action_quit(self) -> None:
        job = self.job
        if job is not None:
            self.session.cancel()
            await asyncio.to_thread(job.done.wait, 10)
        self.exit()

    def wait_idle(self, timeout: float = 10) -> None:
        """After the app exits: let a reply worker finish saving before the engine closes."""
        if self.job is not None:
            self.job.done.wait(timeout)

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

        try:
            write_json(self.theme_file, {"theme": self.theme})
        except OSError:
            pass
