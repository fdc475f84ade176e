# BLIP-2 reproduction harness. Two commands set up everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

TASK ?= vqav2
MODEL ?= blip2-opt-2.7b
PROTOCOL ?= paper
LIMIT ?=
DATA_ROOT ?= data
RESULTS_DIR ?= results
ARGS ?=

DEMO_DATA := fixtures/data
DEMO_RUNS := vqav2:tiny-opt vqav2:tiny-t5 flickr30k:tiny-opt flickr30k:tiny-t5

.PHONY: venv reproduce demo test lint leaderboard bench fixtures

venv: $(STAMP)

# torch==2.13.0 first: on a CPU machine with a local wheel it takes that; elsewhere PyPI's (CUDA) build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

reproduce: venv
	$(PY) -m harness.run task=$(TASK) model=$(MODEL) protocol=$(PROTOCOL) task.data_root=$(DATA_ROOT) \
		results_dir=$(RESULTS_DIR) $(if $(LIMIT),protocol.limit=$(LIMIT)) $(ARGS)

demo: venv
	@set -e; for run in $(DEMO_RUNS); do \
		HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m harness.run task=$${run%%:*} model=$${run##*:} task.data_root=$(DEMO_DATA) \
			results_dir=$(RESULTS_DIR) runtime.batch_size=8 $(ARGS); \
	done
	@ls $(RESULTS_DIR)/leaderboard/

test: venv
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest $(ARGS)

lint: venv
	$(VENV)/bin/ruff check harness tasks tests bench

leaderboard: venv
	$(PY) -m harness.leaderboard --results-dir $(RESULTS_DIR)

bench: venv
	$(PY) bench/score_bench.py

# Regenerate the committed demo data (tests check it equals a fresh regeneration).
fixtures: venv
	rm -rf $(DEMO_DATA)
	$(PY) -m harness.fixtures vqav2 --out $(DEMO_DATA) --questions 36 --images 12
	$(PY) -m harness.fixtures flickr30k --out $(DEMO_DATA) --images 12
