# caselib: the two commands are `make demo` and `make test` (see README.md).
# Everything is installed into .venv with pip; nothing is installed system-wide
# except what the browser and PACS tests need (see `make system-deps`).

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
ARCHIVE ?= demo_archive
PORT    ?= 8888
PYTEST_ARGS ?=

# ../shared/data is a local mirror of the real data (looked up by sha256) when it
# exists; without it caselib.data uses the PyPI data packages and upstream URLs.
ifneq ($(wildcard ../shared/data/MANIFEST.tsv),)
export CASELIB_DATA_MIRRORS ?= $(abspath ../shared/data)
endif

.PHONY: demo build-demo test install bench clean help

help:
	@echo "make demo   - install, fetch the demo data, build the demo archive, open the case library"
	@echo "make test   - install what the tests need and run them"
	@echo "make bench  - run the benchmarks in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all]'
	touch $@

install: $(VENV)/.installed

build-demo: install
	$(BIN)/caselib fetch --demo
	$(BIN)/caselib demo build --archive $(ARCHIVE)

demo: build-demo
	$(BIN)/caselib demo serve --archive $(ARCHIVE) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all,bench]'
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(ARCHIVE) .pytest_cache test-artifacts
