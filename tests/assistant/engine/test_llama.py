"""The real engine on the bundled SmolLM2-135M-Instruct (about 100 MB, loads in well under a second)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from assistant.engine.base import GenerationParams, LoadOptions, Message, collect
from assistant.engine.llama import LlamaEngine
from tests.assistant.cli_helpers import run_cli

GREEDY = GenerationParams(temperature=0.0, max_tokens=200)


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    eng = LlamaEngine()
    eng.load("smollm2-135m-instruct", LoadOptions(n_ctx=2048, n_threads=1))
    yield eng
    eng.close()


def test_model_info(engine: LlamaEngine) -> None:
    info = engine.info
    assert info is not None
    assert info.arch == "llama" and info.quant == "Q4_1" and info.context_length == 2048
    assert info.trained_context == 8192 and info.template_origin == "gguf"
    assert "<|im_end|>" in info.eot_tokens and info.backend == "CPU"


def test_answer_ends_with_the_models_own_end_of_turn(engine: LlamaEngine) -> None:
    text, last = collect(engine.stream([Message("user", "What is 2 + 2?")], GREEDY))
    assert last.finish_reason == "eot"
    assert "4" in text and "<|im_end|>" not in text
    assert last.stats is not None and 0 < last.stats.completion_tokens < 200


def test_length_stop_and_cancel_finish_reasons(engine: LlamaEngine) -> None:
    msgs = [Message("user", "Write a long story about a dragon.")]
    text, last = collect(engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=5)))
    assert last.finish_reason == "length" and last.stats is not None and last.stats.completion_tokens == 5

    full, _ = collect(engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=40)))
    word = full.split()[3]
    cut, last = collect(engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=40, stop=[word])))
    assert last.finish_reason == "stop" and word not in cut and full.startswith(cut.rstrip()[:10])

    stream = engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=100))
    first = next(stream)
    engine.cancel()
    rest = list(stream)
    assert first.text and rest[-1].finish_reason == "cancelled"
    assert rest[-1].stats is not None and rest[-1].stats.completion_tokens < 100


def test_ignore_eos_generates_exactly_n_tokens(engine: LlamaEngine) -> None:
    params = GenerationParams(temperature=0.0, max_tokens=64, ignore_eos=True)
    _, last = collect(engine.stream([Message("user", "Say hi.")], params))
    assert last.finish_reason == "length" and last.stats is not None and last.stats.completion_tokens == 64


def test_turn_two_evaluates_only_its_new_tokens(engine: LlamaEngine) -> None:
    msgs = [Message("system", "You are brief."), Message("user", "Name a fruit.")]
    reply, last = collect(engine.stream(msgs, GREEDY))
    assert last.stats is not None
    msgs += [Message("assistant", reply), Message("user", "And a vegetable?")]
    _, last2 = collect(engine.stream(msgs, GREEDY))
    assert last2.stats is not None
    new_turn = engine.count_tokens(msgs) - engine.count_tokens(msgs[:2]) - len(engine._prompter._replies[reply])  # type: ignore[union-attr]
    assert last2.stats.prompt_evaluated <= new_turn + 2, (last2.stats, new_turn)
    assert last2.stats.prompt_tokens > last2.stats.prompt_evaluated + last.stats.prompt_tokens - 5


def test_repeat_penalty_changes_greedy_choices(engine: LlamaEngine) -> None:
    msgs = [Message("user", "Write the word 'cat' twenty times, separated by spaces.")]
    plain, _ = collect(engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=40, ignore_eos=True)))
    penalised, last = collect(
        engine.stream(msgs, GenerationParams(temperature=0.0, max_tokens=40, ignore_eos=True, repeat_penalty=1.8))
    )
    assert last.finish_reason == "length"
    words = plain.split()
    # The unpenalised reply repeats itself ("cat cat ..." or, with other CPU kernels, "catcatcat...").
    assert plain.lower().count("cat") >= 5, plain
    assert len(set(penalised.split())) > len(set(words)), (plain, penalised)


def test_same_seed_same_reply(engine: LlamaEngine) -> None:
    params = GenerationParams(temperature=0.9, seed=1234, max_tokens=30)
    msgs = [Message("user", "Tell me something about cats.")]
    assert collect(engine.stream(msgs, params))[0] == collect(engine.stream(msgs, params))[0]


def test_context_overflow_drops_old_turns() -> None:
    small = LlamaEngine()
    small.load(None, LoadOptions(n_ctx=512, n_threads=1))
    msgs = [Message("system", "You are brief.")]
    for i in range(8):
        msgs += [Message("user", f"Fact {i}: " + "lorem ipsum dolor sit amet " * 8), Message("assistant", "Noted.")]
    msgs.append(Message("user", "Summarise."))
    assert small.count_tokens(msgs) > 512
    _, last = collect(small.stream(msgs, GenerationParams(temperature=0.0, max_tokens=16)))
    small.close()
    assert last.stats is not None and last.stats.dropped_turns > 0
    assert last.stats.prompt_tokens <= 512 - 16


def test_ask_with_stdin_and_json() -> None:
    proc = run_cli("ask", "--json", "--temperature", "0", "-n", "60", "Which language is this code written in?",
                   stdin="def add(a, b):\n    return a + b\n")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) >= {"text", "finish_reason", "prompt_evaluated", "completion_tokens", "tokens_per_second",
                           "time_to_first_token", "threads", "model"}
    assert result["model"] == "smollm2-135m-instruct"
    assert result["finish_reason"] in ("eot", "length") and result["completion_tokens"] > 0
    assert "Python" in result["text"]
    assert result["prompt_evaluated"] > 20  # the piped code reached the prompt


def test_ask_streams_plain_text_and_keeps_llama_logs_off_the_terminal() -> None:
    proc = run_cli("ask", "--temperature", "0", "-n", "30", "Say hello.")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and proc.stderr.strip() == ""


def test_templateless_base_model_gets_the_fallback_format_and_a_warning() -> None:
    proc = run_cli("ask", "--model", "gemma3-270m", "--threads", "1", "--temperature", "0", "-n", "40", "--json",
                   "What is the capital of Italy?")
    assert proc.returncode == 0, proc.stderr
    assert "Warning:" in proc.stderr and "fallback" in proc.stderr and "\\nUser:" in proc.stderr
    # llama.cpp's own warnings (Gemma's "using full-size SWA cache") go to the log file, not the terminal
    assert proc.stderr.strip().count("\n") == 0 and "llama_" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["finish_reason"] in ("eot", "stop", "length")
    assert "\nUser:" not in result["text"]  # a stop string never reaches the reply


def test_greedy_retry_repeats_itself_without_evaluating_anything(engine: LlamaEngine) -> None:
    msgs = [Message("user", "Give me three tips for learning to cook.")]
    params = GenerationParams(temperature=0.0, max_tokens=48)
    first, _ = collect(engine.stream(msgs, params))
    again, last = collect(engine.stream(msgs, params))
    assert again == first
    assert last.stats is not None and last.stats.prompt_evaluated == 0
