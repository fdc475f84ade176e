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

.PHONY: venv reproduce demo test lint leaderboard bench bench-gpu fixtures claims

venv: $(STAMP)

# torch==2.13.0 first: on a CPU machine with a local wheel it takes that; elsewhere PyPI's (CUDA) build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,okvqa]"
	touch $@

# GPUS=N: data-parallel by image (torchrun); rank 0 writes the run folder; same predictions as one process.
GPUS ?=
RUNNER = $(if $(GPUS),$(VENV)/bin/torchrun --standalone --nproc_per_node=$(GPUS) -m harness.dist_run,$(PY) -m harness.run)

reproduce: venv
	$(RUNNER) task=$(TASK) model=$(MODEL) protocol=$(PROTOCOL) task.data_root=$(DATA_ROOT) \
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

# Every registered claim (paper, table, row, column, checkpoint, task, split, metric, value) and the lock check.
claims: venv
	$(PY) -m harness.claims --csv
	$(PY) -m harness.claims --check-lock

# CPU benchmarks (scoring speed; fast vs reference evaluator on tiny models); bench-gpu needs CUDA.
bench: venv
	$(PY) -m bench.score_bench
	$(PY) -m bench.evaluator_bench

bench-gpu: venv
	$(PY) -m bench.gpu_bench

# Regenerate the committed demo data (tests check it equals a fresh regeneration).
fixtures: venv
	rm -rf $(DEMO_DATA)
	$(PY) -m harness.fixtures vqav2 --out $(DEMO_DATA) --questions 36 --images 12
	$(PY) -m harness.fixtures flickr30k --out $(DEMO_DATA) --images 12

# One paper table: every selected model x every column task the harness runs (a loop over compose + run; finished
# runs with the same config are reused unless FRESH=1), then results/tables/table<N>.{csv,md}: paper, measured,
# CI, verdict per cell. TABLE=2|3; MODELS=a,b (default: the table's rows with a public checkpoint).
TABLE ?= 2
MODELS ?=
FRESH ?=
.PHONY: reproduce-table attach-scores
reproduce-table: venv
	$(PY) -m harness.tables --table $(TABLE) --protocol $(PROTOCOL) --data-root $(DATA_ROOT) \
		--results-dir $(RESULTS_DIR) $(if $(MODELS),--models $(MODELS)) $(if $(LIMIT),--limit $(LIMIT)) \
		$(if $(FRESH),--fresh) $(ARGS)

# A model x task (x protocol) grid as one Hydra multirun (harness/sweep.py, conf/sweep.yaml): each job is one
# `make reproduce`. LAUNCHER=local (joblib; JOBS=<number of GPUs>, a GPU leased per job) | slurm (submitit) | basic.
MODELS ?= blip2-opt-2.7b,blip2-flan-t5-xl
TASKS ?= vqav2
LAUNCHER ?= basic
JOBS ?= 1
.PHONY: sweep
sweep: venv
	$(PY) -m harness.sweep -m model=$(MODELS) task=$(TASKS) variant=$(PROTOCOL) task.data_root=$(DATA_ROOT) \
		results_dir=$(RESULTS_DIR) $(if $(LIMIT),+protocol.limit=$(LIMIT)) \
		$(if $(filter local,$(LAUNCHER)),hydra/launcher=local hydra.launcher.n_jobs=$(JOBS)) \
		$(if $(filter slurm,$(LAUNCHER)),hydra/launcher=slurm) $(ARGS)

# VQAv2 test-dev: after uploading RUN/submission.json to EvalAI, attach its result file and re-judge the run.
attach-scores: venv
	$(PY) -m harness.attach_scores $(RUN) --evalai $(EVALAI)

# Data for one task, where there is internet: the official archives (or SOURCE=hf, the Hub mirror) in the layout
# conf/task/<task>.yaml names, verified against conf/manifest/<task>.yaml, recorded in <DATA_ROOT>/MANIFEST.json.
# Re-run to resume. Flickr30K images have no public download: FLICKR_IMAGES=dir. ARGS="--mirror URL" for a mirror.
SOURCE ?= official
FLICKR_IMAGES ?=
REV ?=
.PHONY: data data-check prompts prompts-update
data: venv
	$(PY) -m harness.prepare fetch --task $(TASK) --data-root $(DATA_ROOT) --source $(SOURCE) \
		$(if $(FLICKR_IMAGES),--flickr-images $(FLICKR_IMAGES)) $(ARGS)

data-check: venv
	$(PY) -m harness.prepare check --task $(TASK) --data-root $(DATA_ROOT) --source $(SOURCE)

# Language-model inputs and decoding settings per protocol: diff REV (default HEAD) against the working tree;
# prompts-update rewrites tests/snapshots/prompts/ (say why in the commit message).
prompts: venv
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m harness.prompts diff $(if $(REV),--rev $(REV))

prompts-update: venv
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m harness.prompts update
