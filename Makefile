# The README's two commands: `make quickstart` and `make test`. Both create .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup quickstart test bench-data
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

quickstart: setup
	$(PY) cli.py run gin/experiments/quickstart.gin

test: setup
	$(PY) -m pytest -q

bench-data: setup
	$(PY) benchmarks/bench_prepare.py
