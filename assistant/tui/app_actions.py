"""The app's other actions: copy, export, settings, model switch, help and theme."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from assistant.tui.base import ChatAppBase
from assistant.tui.widgets.message import code_blocks
from models.errors import AssistantError

EXPORT_SUFFIXES = (".md", ".json")


@dataclass
class ModelChoice:
    name: str
    detail: str


def available_models() -> list[ModelChoice]:
    """Models in the store, then the bundled ones (nothing is located or assembled here)."""
    from models import bundled
    from models.store import Store

    out = []
    for model in Store().list():
        m = model.manifest
        size = f"{m.size_bytes / 2**20:.0f} MiB" if m.size_bytes else ""
        out.append(ModelChoice(m.name, " · ".join(x for x in ("store", m.arch, m.quant, size) if x)))
    names = {c.name for c in out}
    out += [ModelChoice(b.name, f"bundled · {b.description}") for b in bundled.BUNDLED.values() if b.name not in names]
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "chat"


class AppActions(ChatAppBase):
    """Groups the app's other actions; the state they act on is ChatAppBase's."""

    # -- copy and export -------------------------------------------------------------------------
    def action_copy_message(self) -> None:
        view = self.selected_view()
        if view is None or not view.content:
            self.notify("No message to copy yet.")
            return
        self.copy_to_clipboard(view.content)
        self.notify(f"Copied the {'prompt' if view.role == 'user' else 'reply'} ({len(view.content)} characters).")

    def action_copy_code(self) -> None:
        view = self.selected_view("assistant") or self.selected_view()
        blocks = code_blocks(view.content) if view else []
        if not blocks:
            self.notify("No code block in this message.")
            return
        if len(blocks) == 1:
            self._copy_code(blocks[0][1])
            return
        from assistant.tui.screens.dialogs import ChoiceScreen

        choices = []
        for i, (lang, code) in enumerate(blocks):
            first = next((line for line in code.splitlines() if line.strip()), "")
            label = Text(f"{i + 1}. ", style="bold")
            label.append(f"{lang or 'text'}: ", style="dim")
            label.append(first.strip()[:60])
            choices.append((str(i), label))

        def picked(key: str | None) -> None:
            if key is not None:
                self._copy_code(blocks[int(key)][1])

        self.push_screen(ChoiceScreen("Copy which code block?", choices), picked)

    def _copy_code(self, code: str) -> None:
        self.copy_to_clipboard(code)
        self.notify(f"Copied the code block ({len(code.splitlines())} lines).")

    def action_export(self) -> None:
        conv = self.session.conversation
        if conv is None:
            self.notify("Nothing to export yet; send a message first.")
            return
        from assistant.tui.screens.dialogs import TextInputScreen

        default = Path.cwd() / f"chat-{conv.id}-{slug(conv.title)}.md"

        def chosen(value: str | None) -> None:
            from assistant.history.export import write_export

            if not value or not value.strip():
                return
            path = Path(value.strip()).expanduser()
            if path.suffix.lower() not in EXPORT_SUFFIXES:
                self.notify(f"Export to a .md or .json file, not {path.name!r}.", severity="error")
                return
            try:
                write_export(self.history, conv.id, path, leaf_id=self.session.leaf_id)
            except (AssistantError, OSError) as exc:
                self.notify(str(exc), severity="error", title="Export failed")
                return
            self.notify(f"Saved {path}.", title="Exported")

        self.push_screen(TextInputScreen("Export this conversation to (.md for Markdown, .json for JSON)",
                                         str(default), hint="Enter saves (the branch on screen), Esc cancels."),
                         chosen)

    # -- settings and model ----------------------------------------------------------------------
    def action_settings(self) -> None:
        from assistant.tui.screens.settings import FIELDS, SettingsScreen, field_text

        session = self.session

        def apply(values: dict[str, str]) -> str | None:
            from assistant.session.chat import parse_param

            try:  # check every value before changing any
                for name, _, _ in FIELDS:
                    parse_param(name, values[name])
            except AssistantError as exc:
                return str(exc)
            for name, _, _ in FIELDS:
                if values[name] != field_text(getattr(session.params, name)):
                    session.set_param(name, values[name])
            system = values["system"].strip() or None
            if system != session.system:
                session.set_system(system)
            return None

        def closed(saved: bool | None) -> None:
            if saved:
                self.notify("Settings saved for this conversation.")

        self.push_screen(SettingsScreen(session.system, session.params, apply), closed)

    def action_pick_model(self) -> None:
        if self.busy():
            return
        from assistant.tui.screens.dialogs import ChoiceScreen

        try:
            models = self.list_models()
        except AssistantError as exc:
            self.notify(str(exc), severity="error")
            return
        choices = []
        for m in models:
            label = Text(m.name + ("  (current)" if m.name == self.session.model else ""), style="bold")
            label.append(f"\n{m.detail}", style="dim")
            choices.append((m.name, label))

        def picked(name: str | None) -> None:
            if name and name != self.session.model:
                self.load_model(name)

        self.push_screen(ChoiceScreen("Switch model (the conversation goes on with it)", choices,
                                      self.session.model,
                                      hint="Enter loads it, Esc cancels. `assistant models` adds more."), picked)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
        self.save_theme()

    def action_help(self) -> None:
        from assistant.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
