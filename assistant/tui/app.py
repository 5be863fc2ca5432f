"""``assistant chat``: the Textual chat app. The first paint comes before the model is loaded (it
loads in a thread worker, visibly); replies stream from another thread worker; all history goes
through ``ChatSession`` and ``History``."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from assistant.engine.base import GenerationParams
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.session.config import ChatOptions
from assistant.session.resume import reopen
from assistant.tui.actions import ACTIONS, bindings
from assistant.tui.app_actions import AppActions, ModelChoice, available_models
from assistant.tui.chat_actions import ChatActions
from assistant.tui.conversations import Conversations
from assistant.tui.engine_host import EngineFactory, EngineHost
from assistant.tui.tool_actions import ToolActions
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.prompt import PromptInput
from assistant.tui.widgets.sidebar import Sidebar
from assistant.tui.widgets.status import StatusLine
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions

# the keys that also work over a dialog (Tab and Shift+Tab move between its fields)
MODAL_ACTIONS = {"quit", "help", "toggle_theme", "command_palette", "focus_next", "focus_previous"}
WIDE = 100  # columns from which the conversation list shows at start


class ChatApp(ChatActions, Conversations, AppActions, ToolActions):
    """The core (base.ChatAppBase) with its four groups of actions; no group depends on another."""

    CSS_PATH = "chat.tcss"
    TITLE = "assistant"
    BINDINGS = bindings()  # type: ignore[assignment]

    def __init__(self, *, history: History, engine_factory: EngineFactory, model: str, params: GenerationParams,
                 system: str | None = None, conversation_id: int | None = None, new: bool = False,
                 list_models: Callable[[], list[ModelChoice]] = available_models, load_model: bool = True,
                 frozen_time: float | None = None, theme_file: Any = None,
                 options: ChatOptions | None = None, tools: ToolOptions | None = None,
                 tools_on: bool = False) -> None:
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
        self.options = options or ChatOptions()  # flags given on the command line win over a saved conversation's
        self.tool_options = tools  # the runner starts the first time tools are on (tool_actions.py)
        self.tools_wanted = tools_on and tools is not None
        self.tools_ready = threading.Event()
        self.tools_ready.set()
        self.first_paint_at = 0.0
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

    async def on_mount(self) -> None:
        # The reply's thread needs the GIL back after each llama.cpp call; while the UI thread paints,
        # Python's default 5 ms switch interval can hold it up for that long per call.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
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
        if self.tools_wanted:
            self.turn_tools_on()

    async def _open_start_conversation(self) -> None:
        conv_id = self.start_conversation
        if conv_id is None and not self.start_new:
            last = self.history.last_conversation()
            conv_id = last.id if last else None
        if conv_id is not None:
            try:
                reopen(self.session, conv_id, self.options)
            except AssistantError as exc:
                self.notify(str(exc), severity="error")
        await self.show_thread()

    # -- palette, keys over dialogs, quit ----------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for a in ACTIONS:
            yield SystemCommand(a.title, f"{a.help}  [{a.shown or a.keys}]", self._palette_callback(a.action))

    def _palette_callback(self, action: str) -> Callable[[], Any]:
        async def run() -> None:
            await self.run_action(action)

        return run

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (isinstance(self.screen, ModalScreen) and action not in MODAL_ACTIONS)

    async def action_quit(self) -> None:
        job = self.job
        if job is not None:
            job.cancelled = True  # also answers an open approval dialog with "deny"
            self.session.cancel()
            await asyncio.to_thread(job.done.wait, 10)
        self.exit()

    def on_unmount(self) -> None:
        job = self.job
        if job is not None:  # the app ends however it ends: a reply waiting for an approval is let go
            job.cancelled = True
            self.session.cancel()
        self.close_tools(timeout=0)  # a start still under way closes its servers itself

    def wait_idle(self, timeout: float = 10) -> None:
        """After the app exits: let a reply worker finish saving before the engine closes."""
        if self.job is not None:
            self.job.done.wait(timeout)
