# Two commands do everything on a fresh machine with Python 3.11+ and pip:
#   make run    venv + dependencies + embedded Redis + worker + API on 127.0.0.1:8000
#   make test   venv + dependencies (+ Chromium via apt-get if missing) + static checks (ruff,
#               mypy) + the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian's Chromium, for tests/test_docs_browser.py: installed with apt-get only when missing.
CHROMIUM := /usr/bin/chromium

.PHONY: run test demo bench stub clean

$(STAMP): requirements.txt requirements-dev.txt $(wildcard requirements-local.txt) scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) sh scripts/install.sh
	touch $(STAMP)

$(CHROMIUM):
	sh scripts/install.sh browser

run: $(STAMP)
	$(BIN)/python -m mmservice run

# Each line must pass; pytest's own exit 5 ("no tests ran") fails the target like any error.
# Two test processes, a file each at a time (a file's tests share their module's stack): the
# suite is mostly waiting on its own servers, so two halve its time on two cores.
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile

demo: $(STAMP)
	$(BIN)/python -m mmservice demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

stub: $(STAMP)
	$(BIN)/python -m mmservice.devstub --port 8100

clean:
	rm -rf $(VENV) var .pytest_cache
