"""The Textual chat app behind ``assistant chat``. Nothing here imports llama_cpp or torch at
import time; the model loads in a worker after the first paint.

- launch.py: ``run_app`` (what the command calls): options, history, the conversation to reopen.
- app.py: ``ChatApp``, assembled from the core and four groups of actions (none imports another):
  - base.py: the core: state (history, session, engine host), status line, thread and conversation
    list on screen, model loading in a worker, the theme file;
  - chat_actions.py: send, stop, regenerate, edit, branches, and the reply worker (text, and a
    card per tool call);
  - conversations.py: open, search, new, rename, delete, the sidebar;
  - app_actions.py: copy, export, settings, model picker, theme, help;
  - tool_actions.py: the tools' runner (started in a worker the first time tools are on), the tool
    picker (F7), the approval dialog the reply's worker waits on, closing the MCP servers.
- actions.py: every key binding and palette entry, in one table.
- engine_host.py: the engine behind a lock, loaded in a worker; reply.py: one streaming reply's
  state and its paint pacing.
- screens/: modal dialogs, help, settings, the tool approval and the tool picker; widgets/: chat log,
  message views, tool call cards, prompt, sidebar, status.
"""
