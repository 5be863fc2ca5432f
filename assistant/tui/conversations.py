"""The conversation list's actions: open one (or a search hit's branch), search, start a new chat,
rename and delete (with a confirmation)."""

from __future__ import annotations

from assistant.tui.base import ChatAppBase
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.sidebar import Sidebar
from models.errors import AssistantError


class Conversations(ChatAppBase):
    """Groups the conversation list's actions; the state they act on is ChatAppBase's."""

    def on_sidebar_search_changed(self, event: Sidebar.SearchChanged) -> None:
        self.run_search(event.text)

    async def on_sidebar_open(self, event: Sidebar.Open) -> None:
        await self.open_conversation(event.conversation_id, event.message_id)

    async def open_conversation(self, conv_id: int, message_id: int | None = None) -> None:
        if self.busy():
            return
        try:
            self.session.open(conv_id)
            if message_id is not None and message_id not in {m.id for m in self.session.thread()}:
                self._follow_branch(conv_id, message_id)
        except AssistantError as exc:
            self.notify(str(exc), severity="error")
            return
        await self.show_thread()
        self.refresh_sidebar()
        if message_id is not None:
            for view in self.query_one(ChatLog).messages():
                if view.record is not None and view.record.id == message_id:
                    self.query_one(ChatLog).release_anchor()
                    view.scroll_visible(animate=False, top=True)

    def _follow_branch(self, conv_id: int, message_id: int) -> None:
        """Select the branch that holds ``message_id`` (a search hit), down to its newest reply."""
        children: dict[int, list[int]] = {}
        for m in self.history.messages(conv_id):
            if m.parent_id is not None:
                children.setdefault(m.parent_id, []).append(m.id)
        leaf = message_id
        while children.get(leaf):
            leaf = max(children[leaf])
        self.history.set_leaf(conv_id, leaf)
        self.session.leaf_id = leaf

    async def action_new_chat(self) -> None:
        if self.busy():
            return
        self.session.new_conversation()
        self.session.params, self.session.system = self.default_params, self.default_system
        await self.show_thread()
        self.refresh_sidebar()
        self.action_focus_prompt()

    def _target_conversation(self) -> int | None:
        """The conversation highlighted in the list when the list has focus, else the open one."""
        sidebar = self.query_one(Sidebar)
        if sidebar.display and self.focused is sidebar.options:
            return sidebar.highlighted_conversation()
        conv = self.session.conversation
        return conv.id if conv else None

    def action_rename(self) -> None:
        conv_id = self._target_conversation()
        if conv_id is None:
            self.notify("Nothing to rename yet: a chat gets its title from its first message.")
            return
        from assistant.tui.screens.dialogs import TextInputScreen

        def renamed(title: str | None) -> None:
            if title is None:
                return
            title = " ".join(title.split())
            if not title:
                self.notify("A title cannot be empty; type one or press Esc.", severity="warning")
                return
            try:
                self.history.update_conversation(conv_id, title=title)
            except AssistantError as exc:
                self.notify(str(exc), severity="error")
                return
            if self.session.conversation and self.session.conversation.id == conv_id:
                self.session.conversation.title = title
            self.refresh_sidebar()
            self.show_title()

        try:
            current = self.history.get_conversation(conv_id).title
        except AssistantError as exc:  # removed meanwhile (another window, `assistant history rm`)
            self.notify(str(exc), severity="error")
            self.refresh_sidebar()
            return
        self.push_screen(TextInputScreen("Title of this conversation", current, hint="Enter saves, Esc cancels."),
                         renamed)

    def action_delete_conversation(self) -> None:
        conv_id = self._target_conversation()
        if conv_id is None:
            self.notify("Nothing to delete: this chat is not saved yet.")
            return
        if self.job is not None and self.session.conversation and self.session.conversation.id == conv_id:
            self.busy()
            return
        from assistant.tui.screens.dialogs import ConfirmScreen

        try:
            title = self.history.get_conversation(conv_id).title or "this conversation"
        except AssistantError as exc:
            self.notify(str(exc), severity="error")
            self.refresh_sidebar()
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.history.delete_conversation(conv_id)
            except AssistantError as exc:
                self.notify(str(exc), severity="error")
            if self.session.conversation and self.session.conversation.id == conv_id:
                self.session.new_conversation()
                await self.show_thread()
            self.refresh_sidebar()
            self.notify(f"Deleted “{title}”.")

        self.push_screen(ConfirmScreen(f"Delete “{title}” and all its messages?"), answered)

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display
        if sidebar.display:
            self.refresh_sidebar()
            sidebar.options.focus()
        else:
            self.action_focus_prompt()

    def action_search(self) -> None:
        sidebar = self.query_one(Sidebar)
        if not sidebar.display:
            sidebar.display = True
            self.refresh_sidebar()
        sidebar.search_box.focus()
