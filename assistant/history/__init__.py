"""Saved conversations (DESIGN.md, the History contract): SQLite in the data dir.

    store.py    History: conversations and messages (a tree through parent_id), replies saved as they grow, FTS5 search
    schema.py   the schema's PRAGMA user_version migrations, the busy retry on open, the FTS5 query builder
    export.py   one conversation's selected branch written as Markdown or JSON (atomically)
"""
