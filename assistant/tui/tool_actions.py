"""The chat's tools: the runner, started in a thread worker the first time tools are wanted (the MCP
servers start then, never in the UI thread); the tool picker (F7); the approval dialog, which the
reply's worker waits on; closing the servers when the app ends. The calls themselves stream into
the log through chat_actions.py's reply worker."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from textual import work

from assistant.tui.base import ChatAppBase
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions, ToolRunner
    from assistant.tools.approvals import Decision
    from assistant.tools.calls import Tool

ASK_POLL = 0.1  # seconds between two looks at a stopped reply while the approval dialog is open


class ToolActions(ChatAppBase):
    """Groups the tools' actions; the state they act on is ChatAppBase's."""

    # -- starting and closing -----------------------------------------------------------------------
    def turn_tools_on(self, *, pick: bool = False) -> None:
        """Start the tools (once); ``pick`` opens the picker when they are ready."""
        if self.tool_options is None:
            self.notify("This chat has no tools (start it with `assistant chat`).", severity="warning")
            return
        runner = self.session.tools
        if runner is not None:
            if pick:
                self.open_tool_picker()
            return
        self.pick_tools_when_started = self.pick_tools_when_started or pick
        if not self.tools_ready.is_set():
            return  # already starting
        self.tools_ready.clear()  # a reply sent meanwhile waits for them (chat_actions.py)
        if pick:
            self.notify("Starting the tools…", title="Tools")
        self._start_tools(self.tool_options)

    @work(thread=True, group="tools", exit_on_error=False)
    def _start_tools(self, options: ToolOptions) -> None:
        from assistant.session.tool_turns import ToolRunner

        runner: ToolRunner | None = None
        try:
            # every tool, so that a wrong --tool name is a notification rather than no tools at all
            runner = ToolRunner.start(dataclasses.replace(options, names=None), self.ask_approval)
            runner.enabled = False  # until the UI thread applies what the person wants
            self.call_from_thread(self._tools_started, runner)
        except AssistantError as exc:
            self._tools_failed_soon(str(exc))
        except RuntimeError:  # the app ended while the servers were starting
            if runner is not None:
                runner.close()
        except Exception as exc:  # noqa: BLE001 - shown as a notification, the app stays up
            self._tools_failed_soon(f"Starting the tools failed ({type(exc).__name__}: {exc}).")
        finally:
            self.tools_ready.set()

    def _tools_failed_soon(self, error: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(self._tools_failed, error)

    def _tools_started(self, runner: ToolRunner) -> None:
        self.session.tools = runner
        options = self.tool_options
        wanted = options.names if options is not None else None
        if wanted is not None:
            known = {t.name for t in runner.toolset.list()}
            unknown = [n for n in wanted if n not in known]
            if unknown:
                self.notify(f"There is no tool named {unknown[0]!r}; the picker (F7) lists them.",
                            severity="error", title="Tools", markup=False)
            runner.names = [n for n in wanted if n in known] or None
            self.tools_wanted = self.tools_wanted and runner.names is not None
        runner.enabled = self.tools_wanted
        for note in runner.notes:
            self.notify(note, severity="warning", title="Tools", timeout=10, markup=False)
        self.show_tools_count()
        if self.pick_tools_when_started:
            self.pick_tools_when_started = False
            self.open_tool_picker()

    def _tools_failed(self, error: str) -> None:
        self.pick_tools_when_started = False
        self.show_tools_count()
        self.notify(error, severity="error", title="Tools", timeout=15, markup=False)

    def show_tools_count(self) -> None:
        runner = self.session.tools
        count = 0
        if runner is not None and runner.enabled:
            count = len(runner.names) if runner.names is not None else len(runner.toolset.list())
        self.status.tools = count

    def close_tools(self, timeout: float = 10) -> None:
        """When the app ends: stop the MCP servers (after a start in progress, for at most ``timeout``)."""
        self.tools_ready.wait(timeout)
        runner, self.session.tools = self.session.tools, None
        if runner is not None:
            runner.close()

    # -- the picker ---------------------------------------------------------------------------------
    def action_tools(self) -> None:
        self.turn_tools_on(pick=True)

    def open_tool_picker(self) -> None:
        from assistant.tui.screens.tools import ToolChoice, ToolsScreen

        runner = self.session.tools
        if runner is None:
            return

        def chosen(choice: ToolChoice | None) -> None:
            if choice is None:
                return
            runner.names = choice.names
            runner.enabled = self.tools_wanted = choice.on
            self.show_tools_count()
            if choice.on:
                self.notify(f"Tools on: {self.status.tools} for this chat; each call asks first.", title="Tools")
            else:
                self.notify("Tools off for this chat.", title="Tools")

        self.push_screen(ToolsScreen(runner.toolset.list(), on=runner.enabled, selected=runner.names), chosen)

    # -- approvals ----------------------------------------------------------------------------------
    def ask_approval(self, tool: Tool, arguments: dict[str, Any]) -> Decision:
        """Called in the reply's worker thread: shows the dialog and waits for the answer. A reply
        stopped meanwhile (or the app quitting) is a denial."""
        from assistant.tools.approvals import Decision
        from assistant.tui.screens.approval import STOP, ApprovalScreen

        job = self.job
        answered = threading.Event()
        answer: list[str] = []

        def done(value: str | None) -> None:
            answer.append(value or Decision.DENY.value)
            answered.set()
            if value == STOP:
                self.stop_reply()

        try:
            self.call_from_thread(self.push_screen, ApprovalScreen(tool, arguments), done)
        except RuntimeError:  # the app has ended
            return Decision.DENY
        while not answered.wait(ASK_POLL):
            if job is None or job.cancelled:
                return Decision.DENY
        if answer[0] == STOP:
            return Decision.DENY
        return Decision(answer[0])
