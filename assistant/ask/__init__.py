"""``assistant ask``: one prompt in, one streamed answer out.

    answer.py   the prompt (argument + stdin, bounded), one reply without the history, the ``--json`` result
    saved.py    the same with the history: each exchange saved, ``-c`` continues the last conversation
"""
