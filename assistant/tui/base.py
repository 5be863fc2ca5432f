"""The chat app's core, which its action groups (chat_actions, conversations, app_actions) act on:
its state (history, session, engine host, defaults), the status line, the thread and the
conversation list on screen, and loading a model in a thread worker (so the UI never waits for
llama.cpp). app.py assembles the app from this core and the three action groups."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.widgets import Static

from assistant.engine.base import GenerationParams, ModelInfo
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.tui.engine_host import EngineHost
from assistant.tui.reply import ReplyJob
from assistant.tui.widgets.chat_log import ChatLog, record_mark
from assistant.tui.widgets.message import MessageView
from assistant.tui.widgets.prompt import PromptInput
from assistant.tui.widgets.sidebar import Sidebar
from assistant.tui.widgets.status import StatusLine
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions


class ChatAppBase(App[None]):
    history: History
    session: ChatSession
    host: EngineHost
    default_params: GenerationParams
    default_system: str | None
    list_models: Callable[[], list[Any]]
    job: ReplyJob | None = None
    theme_file: Any = None  # where the light/dark choice is kept
    tool_options: ToolOptions | None = None  # None: this app has no tools
    tools_wanted = False  # tools on for this chat (the runner is started the first time)
    tools_ready: threading.Event  # cleared while the runner starts (tool_actions.py)
    pick_tools_when_started = False

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

    # -- the selected message ---------------------------------------------------------------------
    def selected_view(self, role: str | None = None) -> MessageView | None:
        """The focused message, else the last one (of ``role``, when given)."""
        focused = self.focused
        if isinstance(focused, MessageView) and (role is None or focused.role == role):
            return focused
        views = self.query_one(ChatLog).messages()
        if isinstance(focused, MessageView) and role == "user" and focused in views:
            earlier = [v for v in views[: views.index(focused)] if v.role == "user"]
            if earlier:
                return earlier[-1]
        matching = [v for v in views if role is None or v.role == role]
        return matching[-1] if matching else None

    def stop_reply(self) -> None:
        """Stop the reply being generated (Esc, or Stop in the approval dialog)."""
        job = self.job
        if job is not None:
            job.cancelled = True
            self.session.cancel()
            job.view.set_header(mark="stopping…")

    def busy(self) -> bool:
        if self.job is not None:
            self.notify("A reply is being written; press Esc to stop it first.", severity="warning")
            return True
        return False

    # -- the thread on screen ----------------------------------------------------------------------
    def branch_map(self) -> dict[int, tuple[int, int]]:
        conv = self.session.conversation
        if conv is None:
            return {}
        groups: dict[tuple[int | None, str], list[int]] = {}
        for m in self.history.messages(conv.id):
            groups.setdefault((m.parent_id, m.role), []).append(m.id)
        return {i: (ids.index(i) + 1, len(ids)) for ids in groups.values() for i in ids}

    async def show_thread(self) -> None:
        thread = self.session.thread()
        await self.query_one(ChatLog).show(thread, self.branch_map(), self.session.model)
        self.show_title()
        self.query_one(PromptInput).recall = [m.content for m in thread if m.role == "user"]  # Up recalls
        last = next((m for m in reversed(thread) if m.role == "assistant" and m.stats), None)
        self.status.context_used = int(last.stats.get("context_used", 0)) if last else 0

    async def sync_thread(self) -> None:
        """After a reply: give the views their saved records, without re-rendering the bodies."""
        thread = [r for r in self.session.thread() if r.role not in ("system", "tool")]  # results: in cards
        views = self.query_one(ChatLog).messages()
        if len(views) != len(thread) or any(v.role != r.role for v, r in zip(views, thread)):
            await self.show_thread()
            return
        branches = self.branch_map()
        for view, record in zip(views, thread):
            view.record = record
            label = "You" if record.role == "user" else (record.model or self.session.model)
            view.set_header(label=label, branch=branches.get(record.id, (1, 1)), mark=record_mark(record))
        self.show_title()

    # -- the conversation list ------------------------------------------------------------------
    def refresh_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        query = sidebar.search_box.value
        if query.strip():
            self.run_search(query)
        else:
            conv = self.session.conversation
            sidebar.show_conversations(self.history.list_conversations(), conv.id if conv else None)

    def run_search(self, text: str) -> None:
        sidebar = self.query_one(Sidebar)
        if not text.strip():
            self.refresh_sidebar()
            return
        try:
            sidebar.show_hits(self.history.search(text))
        except AssistantError as exc:
            self.notify(str(exc), severity="error")
