"""`assistant data select` on small built pools: each rule drops what it says and nothing else,
and the report and the selection file name every dropped row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune.curate.filters import Filters
from finetune.curate.judge import ANSWER_TOKENS, RUBRIC, ScoreCache, parse_score
from finetune.curate.record import selection_record
from finetune.curate.select import SelectConfig, paths_for, run_select, write_selection
from finetune.data import load_dataset
from finetune.errors import FinetuneError

LONG_Q = "Explain how a hash table stores keys and handles collisions when two keys land in one bucket"


def lima(prompt: str, reply: str, source: str = "pool") -> str:
    return json.dumps({"conversations": [prompt, reply], "source": source})


def pool_lines() -> list[str]:
    """Line numbers matter: every test below names rows by them."""
    return [
        lima("What is the capital of France?", "Paris is the capital of France, on the Seine."),  # 1
        lima("WHAT is the   capital of France?", "PARIS is the capital of France,  on the Seine."),  # 2 exact dup of 1
        lima("what is the capital of france", "It is Paris."),  # 3 near: punctuation and case
        lima(LONG_Q, "A hash table maps each key to a bucket with a hash function; collisions chain."),  # 4
        lima(LONG_Q.replace("bucket", "slot"), "Open addressing probes the next slot instead."),  # 5 near: one word
        lima(LONG_Q.replace(" ", "\n  "), "Whitespace differs, the prompt is the same."),  # 6 near: whitespace
        "{not json",  # 7 bad
        json.dumps({"conversations": ["A prompt without a reply"]}),  # 8 bad: ends with the user
        json.dumps({"foo": 1}),  # 9 bad: no known format
        json.dumps({"conversations": ["Name a fruit.", "An apple.", "Another?", "A pear."], "source": "multi_turn"}),  # 10
        lima("Tell me everything about the sea.", " ".join(["The sea is wide and blue and deep."] * 60)),  # 11 over-long
        lima("Sort a list in Python?", "As mentioned above, use sorted(items)."),  # 12 reference
        lima("Where are the docs?", "https://example.com/docs"),  # 13 links only
        lima("Show bold text.", "<p>Use <b>strong</b> tags.</p>"),  # 14 html
        lima("Say hello.", "Hi."),  # 15 short
        lima("Name a colour.", "Red is a colour that many flags use, and so is blue."),  # 16
    ]


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(pool_lines()) + "\n")
    return path


def decisions(sel: Any) -> dict[int, str]:
    return {line: sel.stage[line] for line in sel.reasons}


def test_each_rule_drops_what_it_says_and_nothing_else(pool: Path, tiny_llama: Path, tmp_path: Path) -> None:
    from finetune.curate.tokens import load_base

    base = load_base(str(tiny_llama))
    filters = Filters(min_reply_chars=5, no_references=True, no_html=True)
    cfg = SelectConfig(n=100, by="longest", base=str(tiny_llama), max_length=160, filters=filters)
    sel = run_select(str(pool), cfg, base=base)
    assert decisions(sel) == {
        2: "exact duplicate", 3: "near duplicate", 5: "near duplicate", 6: "near duplicate",
        7: "refused", 8: "refused", 9: "refused", 11: "over-long", 12: "filter", 13: "filter", 14: "filter", 15: "filter",
    }
    assert sel.reasons[2] == "exact duplicate of line 1"
    assert sel.reasons[3].startswith("near-duplicate prompt of line 1") and "line 4" in sel.reasons[5]
    assert "lose its end of turn at max_length=160" in sel.reasons[11]
    assert "as mentioned above" in sel.reasons[12].lower() and "only links" in sel.reasons[13]
    assert "HTML" in sel.reasons[14] and "--min-reply-chars 5" in sel.reasons[15]
    assert [r.line for r in sel.kept] == [1, 4, 10, 16]
    assert any("asked for more rows" in n for n in sel.notes)
    files = write_selection(sel, tmp_path / "picked.jsonl")
    kept_lines = files["out"].read_text().splitlines()
    assert kept_lines == [pool_lines()[i - 1] for i in (1, 4, 10, 16)]  # the input's rows, byte for byte
    rows = [json.loads(x) for x in files["selection"].read_text().splitlines()]
    header, body = rows[0], rows[1:]
    assert header["input_sha256"] and header["config"]["n"] == 100 and len(body) == 16
    assert {r["line"] for r in body if not r["kept"]} == set(sel.reasons)
    report = files["report"].read_text()
    for line, why in sel.reasons.items():
        assert f"| {line} | {why.replace('|', chr(92) + '|')} |" in report
    data = load_dataset(str(files["out"]))  # finetune reads it
    assert data.rows == 4 and data.dialogues == 1
    record = selection_record(data.origin)
    assert record is not None and record["matches_data"] and record["input_sha256"] == header["input_sha256"]


def test_without_base_and_filters_only_bad_rows_and_duplicates_go(pool: Path) -> None:
    sel = run_select(str(pool), SelectConfig(n=100))
    assert set(decisions(sel)) == {2, 3, 5, 6, 7, 8, 9}


def test_strict_refuses_the_file(pool: Path) -> None:
    with pytest.raises(FinetuneError, match="3 row.*--strict") as err:
        run_select(str(pool), SelectConfig(n=5, strict=True))
    assert err.value.details == ["line 7: not valid JSON (Expecting property name enclosed in double quotes)",
                                 "line 8: ends with a user turn (the last turn must be the assistant's)",
                                 "line 9: is in no known format (expected 'conversations', 'messages' or 'instruction'/'output')"]


def test_longest_random_and_dialogues(pool: Path) -> None:
    sel = run_select(str(pool), SelectConfig(n=2, by="longest"))
    assert [r.line for r in sel.kept] == [4, 10, 11]  # the two longest single-turn rows + the dialogue
    assert "not among the 2 longest" in sel.reasons[1]
    a = run_select(str(pool), SelectConfig(n=3, by="random", seed=5))
    b = run_select(str(pool), SelectConfig(n=3, by="random", seed=5))
    assert [r.line for r in a.kept] == [r.line for r in b.kept] and len(a.kept) == 4
    ranked = run_select(str(pool), SelectConfig(n=2, by="longest", dialogues="rank"))
    assert 10 not in [r.line for r in ranked.kept] and "longest" in ranked.reasons[10]
    dropped = run_select(str(pool), SelectConfig(n=2, by="longest", dialogues="drop"))
    assert dropped.stage[10] == "dialogue" and all(not r.is_dialogue for r in dropped.kept)


def test_balance_source_keeps_proportions(tmp_path: Path) -> None:
    rows = [lima(f"Question number {i} about topic {t}", f"Answer {i} " * (i + 1), t)
            for t, k in (("a", 6), ("b", 3)) for i in range(k)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(rows) + "\n")
    sel = run_select(str(path), SelectConfig(n=3, by="longest", balance="source", dedupe=False))
    assert sorted(r.source for r in sel.kept) == ["a", "a", "b"]


def test_quality_with_a_scripted_judge_and_its_cache(pool: Path, tmp_path: Path) -> None:
    calls: list[str] = []

    def scorer(request: str, reply: str) -> str:
        calls.append(request)
        return {"Paris": "5", "A hash": "Score: 4", "Red": "2"}.get(reply.split(" is")[0].split(" table")[0], "no idea")

    cache = ScoreCache(tmp_path / "scores.jsonl")
    cfg = SelectConfig(n=5, by="quality", judge="fake", min_score=4)
    sel = run_select(str(pool), cfg, scorer=(scorer, "fake:1", cache))
    assert [r.line for r in sel.kept] == [1, 4, 10]
    assert "judge score 2 is under --min-score 4" in sel.reasons[16]
    assert "no readable score" in sel.reasons[11]
    n = len(calls)
    again = run_select(str(pool), cfg, scorer=(scorer, "fake:1", ScoreCache(tmp_path / "scores.jsonl")))
    assert len(calls) == n and [r.line for r in again.kept] == [1, 4, 10]  # the rerun is free
    assert all(s["cached"] for s in again.scores.values())


def test_quality_opens_the_judge_it_is_given_and_closes_it(pool: Path, tmp_path: Path) -> None:
    seen: list[tuple[list[tuple[str, str]], int]] = []
    closed: list[str] = []

    def open_judge(model: str) -> tuple[Any, str, Any]:
        def generate(messages: list[tuple[str, str]], max_tokens: int) -> str:
            seen.append((messages, max_tokens))
            return "5" if "Paris" in messages[1][1] else "1"

        return generate, f"{model}:1", lambda: closed.append(model)

    cfg = SelectConfig(n=5, by="quality", judge="scripted", min_score=4, judge_cache=str(tmp_path / "s.jsonl"))
    sel = run_select(str(pool), cfg, open_judge=open_judge)
    assert closed == ["scripted"] and seen and all(n == ANSWER_TOKENS for _, n in seen)
    assert all(m[0] == ("system", RUBRIC) and m[1][0] == "user" and "[Reply]" in m[1][1] for m, _ in seen)
    assert [r.line for r in sel.kept if not r.is_dialogue] == [1]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == len(seen)


def test_parse_score() -> None:
    assert [parse_score(x) for x in ("4", " **5**", "Score: 3/5", "Rating - 2", "6", "I think 4", "")] == \
        [4, 5, 3, 2, None, None, None]


def test_diverse_with_tfidf_takes_one_of_each_topic(tmp_path: Path) -> None:
    topics = {"sea": "ocean waves salt water tide", "code": "python function list sort loop",
              "food": "bread oven flour yeast bake"}
    rows = [lima(f"{name} question {i}", f"{words} {words.split()[i]} variant {i}", name)
            for name, words in topics.items() for i in range(3)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(rows) + "\n")
    sel = run_select(str(path), SelectConfig(n=3, by="diverse", dedupe=False))
    assert sorted(r.source for r in sel.kept) == ["code", "food", "sea"]
    assert all("most diverse" in w for w in sel.reasons.values())
    close = run_select(str(path), SelectConfig(n=9, by="diverse", dedupe=False, min_distance=0.5))
    assert len(close.kept) == 3 and all("too close" in w for w in close.reasons.values())


def test_messages_format_and_interrupt_leaves_no_out(pool: Path, tmp_path: Path) -> None:
    sel = run_select(str(pool), SelectConfig(n=10, format="messages"))
    files = write_selection(sel, tmp_path / "m.jsonl")
    data = load_dataset(str(files["out"]))
    assert data.formats == {"messages": len(sel.kept)}

    def interrupted(request: str, reply: str) -> str:
        raise KeyboardInterrupt

    out = tmp_path / "never.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_select(str(pool), SelectConfig(n=3, by="quality", judge="x"), scorer=(interrupted, "x", ScoreCache(None)))
    assert not out.exists() and not any(p.exists() for p in paths_for(out))


def test_config_errors(pool: Path, tmp_path: Path) -> None:
    for cfg, match in ((SelectConfig(n=0), "--n must be at least 1"), (SelectConfig(n=1, by="best"), "Unknown --by"),
                       (SelectConfig(n=1, by="quality"), "needs a judge"), (SelectConfig(n=1, dialogues="x"), "--dialogues")):
        with pytest.raises(FinetuneError, match=match):
            run_select(str(pool), cfg)
    with pytest.raises(FinetuneError, match="does not exist"):
        run_select(str(tmp_path / "none.jsonl"), SelectConfig(n=1))
    sel = run_select(str(pool), SelectConfig(n=1))
    with pytest.raises(FinetuneError, match="must not be the input"):
        write_selection(sel, pool)
    assert selection_record(tmp_path / "none.jsonl") is None and selection_record(pool) is None
