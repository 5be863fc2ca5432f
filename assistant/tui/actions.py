"""Every key of the chat app in one table: the bindings, the help screen and the command palette
are all made from it, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class KeyAction:
    keys: str  # Textual key names, comma-separated
    action: str  # the App action (without ``action_``)
    title: str  # what the palette and the help screen call it
    help: str
    shown: str = ""  # how the help screen writes the keys (defaults to ``keys``)
    priority: bool = False  # also works while the input has focus and would take the key
    footer: str = ""  # a short name shown in the footer; empty: not shown there


ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("f1", "help", "Help", "Show every key and how to select text.", "F1, ? (outside the input)", True, "Help"),
    KeyAction("ctrl+n", "new_chat", "New chat", "Start a new conversation.", "Ctrl+N", True, "New"),
    KeyAction("escape", "stop", "Stop reply", "Stop the reply being generated; the part so far is kept and marked.", "Esc", False, "Stop"),
    KeyAction("ctrl+r", "regenerate", "Regenerate", "Write the last reply again as a new branch.", "Ctrl+R", True),
    KeyAction("alt+left", "branch(-1)", "Previous branch",
              "Show the previous version of the selected (or last) reply or prompt.", "Alt+Left, [ on a message", True),
    KeyAction("alt+right", "branch(1)", "Next branch",
              "Show the next version of the selected (or last) reply or prompt.", "Alt+Right, ] on a message", True),
    KeyAction("f2", "edit", "Edit prompt",
              "Edit the selected (or last) prompt; the answer to it becomes a new branch.", "F2, e on a message", True),
    KeyAction("f3", "copy_message", "Copy message",
              "Copy the selected (or last) message to the clipboard (OSC 52).", "F3, c on a message", True),
    KeyAction("f4", "copy_code", "Copy code block",
              "Copy a code block of the selected (or last) reply to the clipboard.", "F4, k on a message", True),
    KeyAction("ctrl+up", "focus_messages", "Select messages",
              "Move into the messages (Up/Down between them, Esc or Tab back to the input).", "Ctrl+Up", True),
    KeyAction("shift+pageup", "scroll_log(-1)", "Scroll up",
              "Scroll the conversation up a page (it stops following the reply).", "Shift+PgUp", True),
    KeyAction("shift+pagedown", "scroll_log(1)", "Scroll down",
              "Scroll down a page; at the bottom it follows the reply again.", "Shift+PgDn", True),
    KeyAction("ctrl+b", "toggle_sidebar", "Conversations", "Show or hide the conversation list.", "Ctrl+B", True, "Chats"),
    KeyAction("ctrl+f", "search", "Search", "Search every conversation (full text).", "Ctrl+F", True),
    KeyAction("f6", "rename", "Rename conversation", "Edit the title of this conversation.", "F6, r in the list", True),
    KeyAction("f8", "delete_conversation", "Delete conversation",
              "Delete this conversation (asks first).", "F8, Delete in the list", True),
    KeyAction("f5", "export", "Export", "Save this conversation as Markdown or JSON.", "F5", True),
    KeyAction("ctrl+o", "pick_model", "Switch model",
              "Pick another model; the conversation goes on with it.", "Ctrl+O", True, "Model"),
    KeyAction("ctrl+s", "settings", "Settings",
              "System prompt and sampling of this conversation.", "Ctrl+S", True, "Settings"),
    KeyAction("f7", "tools", "Tools",
              "Turn tools on or off for this chat and pick the ones the model may call.", "F7", True),
    KeyAction("ctrl+t", "toggle_theme", "Light/dark theme", "Switch between the light and the dark theme.", "Ctrl+T", True),
    KeyAction("ctrl+q", "quit", "Quit", "Leave the app (a reply in progress is saved).", "Ctrl+Q", True, "Quit"),
)

INPUT_KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "Send the message."),
    ("Shift+Enter, Ctrl+J", "New line in the message (Shift+Enter where the terminal reports it)."),
    ("Up in an empty input", "Recall the last prompt."),
    ("Ctrl+P", "Command palette: every action by name."),
)

SELECT_HELP = (
    "Selecting text with the mouse: the app takes the mouse, so hold your terminal's modifier key while "
    "dragging to select as usual: Shift in most Linux terminals and Windows Terminal, Option (⌥) in "
    "iTerm2 and macOS Terminal, Fn in some. Copying with F3/F4 uses OSC 52, which most terminals support "
    "(tmux needs `set -g set-clipboard on`)."
)


def bindings() -> list[Binding]:
    out = [
        Binding(a.keys, a.action, a.footer or a.title, show=bool(a.footer), priority=a.priority, tooltip=a.help)
        for a in ACTIONS
    ]
    out.append(Binding("question_mark", "help", "Help", show=False))
    return out
