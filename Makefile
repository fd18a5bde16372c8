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

.PHONY: demo build-demo test install system-deps bench clean help

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

# Debian packages the tests start for real: chromium (browser tests, driven by
# playwright with executable_path; a CJK font for zh-CN screenshots), orthanc + orthanc-dicomweb (PACS tests).
SYSTEM_PACKAGES := chromium fonts-wqy-microhei orthanc orthanc-dicomweb

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYSTEM_PACKAGES)"; exit 0; fi; \
	echo "installing Debian packages:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; \
	else echo "need root (or sudo) to apt-get install$$missing" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing

# the venv's bin first on PATH: nbgrader runs `alembic`, the tests run `jupyter`, `voila`, `nbgrader`
test: install system-deps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all,bench]'
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(ARCHIVE) .pytest_cache test-artifacts
