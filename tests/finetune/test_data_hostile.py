"""Hostile datasets: a line of hundreds of MB or a deeply nested row, refused by line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune.data import check_line_lengths, load_dataset
from finetune.errors import FinetuneError

ROW = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def test_a_huge_line_is_refused_by_number_without_reading_the_file(tmp_path: Path) -> None:
    data = tmp_path / "evil.jsonl"
    with data.open("wb") as fh:
        fh.write((ROW * 3).encode())
        fh.truncate(3 * len(ROW) + (300 << 20))  # line 4: 300 MB (sparse), no newline
    with pytest.raises(FinetuneError, match=r"line 4 is longer than 16 MB"):
        load_dataset(str(data))


def test_line_limit_counts_lines_across_blocks(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"x\n" * 700_000 + b"y" * 5000 + b"\n")
    check_line_lengths(data, limit=10_000)
    with pytest.raises(FinetuneError, match="line 700001 "):
        check_line_lengths(data, limit=4000)


def test_a_deeply_nested_row_is_a_bad_line(tmp_path: Path) -> None:
    data = tmp_path / "nested.jsonl"
    data.write_text(ROW + "[" * 100_000 + "]" * 100_000 + "\n" + ROW)
    with pytest.raises(FinetuneError, match=r"line"):
        load_dataset(str(data))
