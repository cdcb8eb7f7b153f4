# The two Quick-start commands: `make demo` and `make test`. Both create .venv if needed and
# (re)install oar with a pinned CPU torch; running them again is safe and quick.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

# A second pass of the tests that compare engines, with torch's AVX2 kernels (on an AVX-512 CPU
# they are not the default; on a CPU without AVX2 torch falls back) and the fused kernels built
# for the baseline ISA: a test that holds only on one kind of CPU fails on every machine.
ISA_MARCH ?= $(if $(filter x86_64,$(shell uname -m)),x86-64,native)
ISA_TESTS ?= tests/test_engine.py tests/test_optimizer.py tests/test_parity.py

.PHONY: setup demo test lint bench docs
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)" -e '.[demo,test,integrations,docs]'

demo: setup
	$(BIN)/oar demo

test: setup
	$(BIN)/python -c "import paddle; assert paddle.__version__ == '3.3.1', paddle.__version__" \
	  || { echo "the Paddle 3.3.1 reference is missing: the parity tests need it" >&2; exit 1; }
	$(BIN)/python -m pytest -q
	@echo "again, the engine and parity tests with other ISAs: torch's AVX2 kernels, oar's kernels for baseline x86-64"
	ATEN_CPU_CAPABILITY=avx2 OAR_FUSED_MARCH=$(ISA_MARCH) $(BIN)/python -m pytest -q $(ISA_TESTS)

# lint, format and types, as .ci/run checks them (settings in pyproject.toml; .pre-commit-config.yaml runs the same)
LINT_PATHS ?= src tests benchmarks examples docs .ci
lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: setup
	$(BIN)/oar bench

# the documentation site in site/ (mkdocs.yml); warnings are errors
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
