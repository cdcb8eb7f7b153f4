# The two Quick-start commands: `make demo` and `make test`. Both create .venv if needed and
# (re)install oar with a pinned CPU torch; running them again is safe and quick.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)" -e '.[demo,test]'

demo: setup
	$(BIN)/oar demo

test: setup
	$(BIN)/python -c "import paddle; assert paddle.__version__ == '3.3.1', paddle.__version__" \
	  || { echo "the Paddle 3.3.1 reference is missing: the parity tests need it" >&2; exit 1; }
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/oar bench
