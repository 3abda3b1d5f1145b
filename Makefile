# Concord — every target installs what it needs into .venv first, so a fresh clone needs only python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install lint test demo bench serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -e '.[dev,erp]'
	touch $(STAMP)

# Bytecode is compiled here, not left to first import: where PYTHONDONTWRITEBYTECODE is set (many container
# images, this project's CI machine) Python never writes it, and every process — each `concord` command, each
# server and worker a test starts — compiled every module from source again: 3.4 s of CPU before `concord` could
# parse its arguments, against 1.4 s (decision 088). compileall skips what is up to date.
# The ingest hot path is compiled with mypyc (decision 089): ~14% fewer instructions per ingested change. Skipped
# when up to date; a stale build is never loaded (concord/nativeguard.py); no C compiler leaves pure Python.
install: $(STAMP)
	$(BIN)/python tools/build_native.py
	$(BIN)/python -m compileall -q src

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy src bench tools

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

demo: install
	$(BIN)/concord demo

bench: install
	$(BIN)/python -m bench

serve: install
	$(BIN)/concord serve

clean:
	rm -rf $(VENV) .concord-demo .pytest_cache .mypy_cache .ruff_cache build
	find src -name '*.so' -delete; rm -f src/concord/native.json
