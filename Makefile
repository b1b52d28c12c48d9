# voicecli: `make demo` and `make test` each work on a fresh clone as the only command run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Runtime Debian packages, and the extra ones the tests need (virtual audio devices, test speech).
APT_RUNTIME := libportaudio2
APT_TEST := pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox iproute2 util-linux

.PHONY: install models dist demo test test-fast bench lint clean distclean

install: $(STAMP)

$(STAMP): pyproject.toml
	scripts/apt-ensure $(APT_RUNTIME)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@echo "pip install -e .[dev] (the first time builds llama.cpp: about 9 minutes on 2 cores)"
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Downloads what is missing or corrupt, verifies every file by its sha256 each time (no stamp file:
# it would skip a check that takes well under a second and go stale when a file is changed by hand).
models: $(STAMP)
	$(VENV)/bin/voicecli fetch

# The wheel and the sdist, in dist/ (`pip install dist/voicecli-*.whl` or `pipx install .` elsewhere).
dist: $(STAMP)
	$(PY) -m build --outdir dist

# The main job on the embedded models: a spoken question in, a spoken answer out (reply.wav),
# played as well when the machine has a speaker.
DEMO_INPUT := tests/data/speech/question.wav
demo: install models
	@play=""; $(PY) -c "import sys; from voicecli.audio import list_devices; sys.exit(not any(d.outputs for d in list_devices()))" 2>/dev/null && play="--play"; \
	$(VENV)/bin/voicecli talk --input $(DEMO_INPUT) --output reply.wav $$play --no-log
	@echo "The assistant's spoken reply is in reply.wav"

test: install models
	scripts/apt-ensure $(APT_RUNTIME) $(APT_TEST)
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not models and not audio and not slow"

# Every benchmark, one after the other (never two at once: the machine has two cores).
bench: install models
	scripts/apt-ensure $(APT_RUNTIME) $(APT_TEST)
	$(VENV)/bin/voicecli bench --runs 3 --json out/bench.json --plot out/bench.png
	$(VENV)/bin/voicecli bench --live --runs 1 --json out/bench-live.json
	$(PY) scripts/bench_talk.py --json out/talk.json
	$(PY) scripts/bench_turns.py --json out/turns.json
	$(PY) scripts/bench_turns.py --limit 10 --sweep --plot out/turns.png --json out/turns-sweep.json --out out/turns-sweep
	$(PY) scripts/bench_turns.py --devices --json out/turns-devices.json
	$(PY) scripts/bench_long.py --json out/long.json
	$(PY) scripts/bench_stt.py --repeats 3 --json out/stt.json
	$(PY) scripts/bench_chunking.py --json out/chunking.json
	$(PY) scripts/bench_duplex.py --json out/duplex.json

lint: install
	$(VENV)/bin/ruff check voicecli tests

clean:
	rm -rf out reply.wav .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) models/stt models/llm models/tts
