"""The chat actions: send, stop, regenerate, edit and step through branches; the reply runs in a
thread worker and streams into the screen through ReplyText / ReplyDone messages; a turn's tool calls
come through the same job, in their place in the text (a card per call; the model's next reply gets a
view of its own, as it is saved)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from textual import work

from assistant.engine.base import Chunk
from assistant.session.tool_turns import ToolCallDone, ToolCallShown
from assistant.tui.base import ChatAppBase
from assistant.tui.reply import ReplyDone, ReplyJob, ReplyText
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.message import MessageView
from assistant.tui.widgets.prompt import PromptInput
from assistant.tui.widgets.tool_card import ToolCard
from models.errors import AssistantError

LIVE_RATE_INTERVAL = 1.0  # seconds between two updates of the status line's tokens/s while a reply streams
LOADING, STARTING_TOOLS = "loading the model…", "starting the tools…"  # a reply's marks until it starts


class ChatActions(ChatAppBase):
    """Groups the chat actions and their reply worker; the state they act on is ChatAppBase's."""

    # -- send / regenerate / edit -------------------------------------------------------------------
    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip() or self.busy():
            return
        event.prompt.remember(text)
        event.prompt.clear()
        log = self.query_one(ChatLog)
        log.anchor()
        await log.add(MessageView("user", text))
        view = await log.add(MessageView("assistant", "", label=self.session.model))
        self._start(ReplyJob(view, "send", prompt=text), lambda: self.session.send(text))

    async def action_regenerate(self) -> None:
        if self.busy():
            return
        thread = self.session.thread()
        if not thread:
            self.notify("There is no reply to regenerate yet; send a message first.", severity="warning")
            return
        log = self.query_one(ChatLog)
        views = log.messages()
        if thread[-1].role == "assistant" and views and views[-1].role == "assistant":
            await views[-1].remove()
        log.anchor()
        view = await log.add(MessageView("assistant", "", label=self.session.model))
        self._start(ReplyJob(view, "retry"), self.session.retry)

    def action_edit(self) -> None:
        if self.busy():
            return
        target = self.selected_view("user")
        if target is None or target.record is None:
            self.notify("There is no prompt to edit yet; send a message first.", severity="warning")
            return
        from assistant.tui.screens.dialogs import EditScreen

        record = target.record

        async def edited(text: str | None) -> None:
            if text is None or not text.strip() or self.busy():
                return
            log = self.query_one(ChatLog)
            views = log.messages()
            if target in views:
                for old in views[views.index(target):]:
                    await old.remove()
            log.anchor()
            await log.add(MessageView("user", text))
            view = await log.add(MessageView("assistant", "", label=self.session.model))
            self._start(ReplyJob(view, "edit", prompt=text), lambda: self.session.edit(record.id, text))

        self.push_screen(EditScreen(record.content), edited)

    def _start(self, job: ReplyJob, start: Callable[[], Iterator[Chunk]]) -> None:
        self.job = job
        job.view.begin_stream()
        waiting = LOADING if self.host.inner is None else STARTING_TOOLS if not self.tools_ready.is_set() else ""
        job.view.set_header(mark=waiting)
        self.set_state("generating")
        job.rate_timer = self.set_interval(LIVE_RATE_INTERVAL, self._show_live_rate)
        self._generate(job, start)

    @work(thread=True, group="reply", exit_on_error=False)
    def _generate(self, job: ReplyJob, start: Callable[[], Iterator[Chunk]]) -> None:
        cancel_sent = False
        try:
            while not self.tools_ready.wait(0.1) and not job.cancelled:  # tools being started for this chat
                pass
            for chunk in start():
                if job.cancelled and not cancel_sent:  # Esc while the model was still loading
                    self.session.cancel()
                    cancel_sent = True
                if chunk.text and job.push(chunk.text):
                    self.post_message(ReplyText(job))
                if chunk.event is not None:  # a tool call shown or done, after the text before it
                    job.push_event(chunk.event)
                    self.post_message(ReplyText(job))
                if chunk.finish_reason is not None:
                    job.final = chunk
        except AssistantError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never a crash of the app
            job.error = f"The reply failed ({type(exc).__name__}: {exc}); see the log with `assistant doctor`."
        finally:
            self.post_message(ReplyDone(job))
            job.done.set()

    async def on_reply_text(self, message: ReplyText) -> None:
        await self._paint_pending(message.job)

    async def _paint_pending(self, job: ReplyJob) -> None:
        for item in job.take():
            if isinstance(item, str):
                if job.after_calls:
                    await self._next_view(job)
                job.painted(self.host.info)
                self._clear_wait_mark(job)
                await job.view.write(item)
                job.last_paint_at = time.perf_counter()
            else:
                await self._show_tool_event(job, item)

    def _clear_wait_mark(self, job: ReplyJob) -> None:
        if job.view.mark in (LOADING, STARTING_TOOLS):
            job.view.set_header(mark="")

    async def _next_view(self, job: ReplyJob) -> None:
        """The model answers again after its calls: that reply gets a view of its own, as it is saved."""
        job.after_calls = False
        await job.view.finish()
        job.view = await self.query_one(ChatLog).add(MessageView("assistant", "", label=self.session.model))
        job.view.begin_stream()

    async def _show_tool_event(self, job: ReplyJob, event: object) -> None:
        self._clear_wait_mark(job)
        if isinstance(event, ToolCallShown):
            if job.after_calls:  # the next reply called at once (parallel calls are put right by sync_thread)
                await self._next_view(job)
            call = event.call
            card = ToolCard(call.name, call.arguments, call_id=call.id, raw=call.raw, error=event.error)
            job.cards[call.id] = card
            await job.view.add_card(card)
        elif isinstance(event, ToolCallDone):
            done, result = job.cards.get(event.call.id), event.result
            if isinstance(done, ToolCard):
                done.finish(result.content, is_error=result.is_error, seconds=result.seconds or None)
            job.after_calls = True

    def _show_live_rate(self) -> None:
        """Once a second while a reply streams, in a frame of its own: painting the status line
        together with the reply would widen the screen region Textual redraws to the whole screen."""
        job = self.job
        if job is not None and job.pieces:
            elapsed = time.perf_counter() - job.first_text_at
            if elapsed > 0.5:
                self.status.tokens_per_second = job.pieces / elapsed

    async def on_reply_done(self, message: ReplyDone) -> None:
        job = message.job
        if job.rate_timer is not None:
            job.rate_timer.stop()
        await self._paint_pending(job)
        await job.view.finish()
        job.last_paint_at = time.perf_counter()
        self.job = None
        self.set_state("idle")
        if job.error:
            await self._reply_failed(job)
        else:
            await self._reply_finished(job)
        self.refresh_sidebar()

    async def _reply_finished(self, job: ReplyJob) -> None:
        final = job.final
        stats = final.stats if final else None
        if stats is not None:
            self.status.context_used = stats.context_used
            self.status.context_size = stats.n_ctx or self.status.context_size
            if stats.tokens_per_second:
                self.status.tokens_per_second = stats.tokens_per_second
        await self.sync_thread()
        dropped = self.session.last_dropped_turns
        if dropped:
            note = (f"{dropped} older turn{'s' if dropped != 1 else ''} left out to fit the "
                    f"{self.status.context_size}-token context; the system prompt is kept.")
            await self.query_one(ChatLog).add_notice(note)
            self.notify(note, severity="warning", title="Context full")

    async def _reply_failed(self, job: ReplyJob) -> None:
        # markup=False: the sentence may quote a stranger's text (a template's, a file name) with [brackets]
        self.notify(job.error or "The reply failed.", severity="error", title="Error", markup=False)
        prompt = self.query_one(PromptInput)
        if not job.text and job.kind == "send" and self.session.leaf_id is not None:
            self._undo_prompt(self.session.leaf_id)  # unsent: the prompt goes back into the input
            if not prompt.text.strip():
                prompt.set_text(job.prompt)
        await self.show_thread()

    def _undo_prompt(self, user_id: int) -> None:
        history, session = self.history, self.session
        try:
            record = history.get_message(user_id)
        except AssistantError:
            return
        if record.role != "user":
            return
        history.delete_message(user_id)
        session.leaf_id = record.parent_id
        conv = session.conversation
        if conv is not None and history.count_messages(conv.id) == 0:
            history.delete_conversation(conv.id)
            session.new_conversation()

    def action_stop(self) -> None:
        job = self.job
        if job is None:
            if not isinstance(self.focused, PromptInput):
                self.action_focus_prompt()
            return
        self.stop_reply()

    # -- branches --------------------------------------------------------------------------------
    async def action_branch(self, step: int) -> None:
        if self.busy():
            return
        target = self.selected_view()
        if target is None or target.record is None:
            return
        if target.branch[1] < 2:
            self.notify("This message has no other versions; Ctrl+R regenerates a reply, F2 edits a prompt.")
            return
        index = self.query_one(ChatLog).messages().index(target)
        was_focused = self.focused is target
        self.session.select_sibling(target.record.id, step)
        await self.show_thread()
        views = self.query_one(ChatLog).messages()
        if was_focused and index < len(views):
            views[index].focus()
