# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs genzoo, trains the VAE on the bundled 8x8 digits (~1 min)
#   make test   - creates .venv, installs genzoo + test tools, runs the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint setup clean

$(BIN)/genzoo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the exact CPU build first (pyproject accepts torch>=2.1, so pip keeps it and never pulls a CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/genzoo

setup: $(BIN)/genzoo

# One torch thread unless the caller sets OMP_NUM_THREADS: the demo's models are tiny, and two intra-op
# threads stall whenever another process holds a core (9 min instead of 19 s on the 2-core CI machine).
demo: export OMP_NUM_THREADS ?= 1
demo: setup
	$(BIN)/genzoo train --config vae-digits --run-dir runs/demo-vae-digits
	$(BIN)/genzoo sample runs/demo-vae-digits -n 64 -o runs/demo-vae-digits/grid.png
	$(BIN)/genzoo eval runs/demo-vae-digits --metric nll --importance-samples 1000

test: setup
	$(BIN)/ruff check genzoo tests benchmarks
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
