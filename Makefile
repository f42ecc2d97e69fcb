# istio_demo.mesh - every entry point bootstraps what it needs from the repo.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
BUILD := $(CURDIR)/build
# ansible-playbook, molecule and pytest find the collection through this tree:
# a symlink to the repo, so edits take effect without a rebuild.
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/istio_demo/mesh
# ansible-test needs a real copy (it resolves symlinks), with the
# dependencies beside it in the same collection root.
SANITY_ROOT := $(BUILD)/sanity/ansible_collections
SANITY_TREE := $(SANITY_ROOT)/istio_demo/mesh
EE_VENV := $(BUILD)/ee-venv
EE_STAMP := $(EE_VENV)/.requirements.stamp

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := true
export PYTHONPATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1

SANDBOX := $(BIN)/python tests/sandbox/ctl.py

.PHONY: checks k8s-core-targets docs suites fidelity graphviz reliability sandbox-up sandbox-down sandbox-status fleet-up fleet-down demo-traffic demo-down help setup collection lint yamllint ansible-lint sanity unit integration molecule test demo bench build clean

help:
	@echo "make demo      bootstrap, then run the mesh demo (see README)"
	@echo "make test      bootstrap, then lint, sanity, unit, sandbox contract, fidelity, integration, reliability and molecule"
	@echo "make setup     create $(VENV) and install requirements.txt (idempotent)"
	@echo "make lint | sanity | unit | integration | molecule | docs | bench | build | clean"

setup: $(STAMP) $(EE_STAMP) collection

$(STAMP): requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade 'pip>=24'
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	@touch $@

# The Python an execution environment gets from meta/ee-requirements.txt, resolved together in a venv of its own
# (the AWS CLI v1 pins its botocore and docutils, which the docs tools here would not share): the EE tests run its
# `aws eks get-token` against the sandbox.
$(EE_STAMP): meta/ee-requirements.txt
	@test -x $(EE_VENV)/bin/python || $(PYTHON) -m venv $(EE_VENV)
	$(EE_VENV)/bin/python -m pip install --quiet -r meta/ee-requirements.txt
	@touch $@

collection:
	@mkdir -p $(dir $(LINK))
	@test -L $(LINK) || ln -sfn $(CURDIR) $(LINK)

sandbox-up: setup
	$(SANDBOX) up

sandbox-down:
	@test -x $(BIN)/python && $(SANDBOX) down || rm -rf .sandbox

sandbox-status: setup
	$(SANDBOX) status

# A fleet of three sandbox clusters (demo-1 .. demo-3, one AWS account) for inventories/sandbox-fleet:
#   ansible-playbook -i inventories/sandbox-fleet --forks 3 playbooks/site.yml
fleet-up: setup
	$(SANDBOX) --state-dir .sandbox-fleet up --clusters 3

fleet-down:
	@test -x $(BIN)/python && $(SANDBOX) --state-dir .sandbox-fleet down || rm -rf .sandbox-fleet

lint: yamllint ansible-lint

yamllint: setup
	yamllint --strict .

ansible-lint: setup
	ansible-lint --profile production

# shellcheck: ansible-test's shellcheck sanity test skips the shell scripts without it
sanity: setup
	@bash tools/system_deps.sh shellcheck=shellcheck
	@rm -rf $(BUILD)/sanity && mkdir -p $(SANITY_TREE)
	@git ls-files --cached --others --exclude-standard -z | xargs -0 -I{} cp --parents {} $(SANITY_TREE)/ 2>/dev/null || true
	@SITE=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  for dep in kubernetes/core amazon/aws; do \
	    mkdir -p $(SANITY_ROOT)/$$(dirname $$dep); ln -sfn $$SITE/ansible_collections/$$dep $(SANITY_ROOT)/$$dep; \
	  done
	@$(BIN)/python tools/ansible_test_bootstrap.py
	cd $(SANITY_TREE) && git init -q . && ansible-test sanity --requirements --python 3.11 --color no

unit: setup
	pytest -q tests/unit

sandbox-test: setup
	pytest -q $(PARALLEL) tests/sandbox_contract

# kubernetes.core's own integration targets (../shared/upstream, the release the venv installs) against the sandbox,
# each with a sandbox of its own, as ansible-test runs them; not part of `make test` (see README for the time).
k8s-core-targets: setup
	$(BIN)/python -m pip install --quiet -r tests/k8s_core_targets/requirements.txt
	$(BIN)/python tests/k8s_core_targets/run.py --jobs 2

# Two workers, a file each at a time: every worker starts its own sandboxes on free ports, and the tests of one
# file keep their order (some share one sandbox's state).
# The files marked @pytest.mark.minutes start first, longest first (tests/conftest.py): xdist's reordering by number
# of tests is off. --durations shows where the time goes.
PARALLEL := -n 2 --dist loadfile --no-loadscope-reorder --durations=40

integration: setup graphviz
	pytest -q $(PARALLEL) tests/integration

reliability: setup
	pytest -q $(PARALLEL) tests/reliability

# Held against Istio's real files (../shared/upstream, or downloaded by release tag); CI=true makes a skip fail.
fidelity: setup graphviz
	pytest -q $(PARALLEL) tests/fidelity

# Two scenarios at a time, each with its own sandbox (.sandbox-molecule/SCENARIO) and its own log, printed whole
# when it ends; any failure fails the target after every scenario has run.
MOLECULE_JOBS ?= 2
molecule: setup graphviz
	@scenarios=$$(test -d molecule && find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -rn1 basename | sort || true); \
	  if [ -z "$$scenarios" ]; then echo "molecule: no scenario yet"; exit 0; fi; \
	  mkdir -p $(BUILD)/molecule; \
	  printf '%s\n' $$scenarios | xargs -P $(MOLECULE_JOBS) -I{} sh -c \
	    'if molecule test -s {} > $(BUILD)/molecule/{}.log 2>&1; then echo "molecule {}: passed"; cat $(BUILD)/molecule/{}.log | tail -3; \
	     else cat $(BUILD)/molecule/{}.log; echo "molecule {}: FAILED"; exit 1; fi' 

# The four sandbox suites in one run, so that two workers share them to the end (no worker idles while another
# finishes a suite's last file); each target above runs one of them alone.
# What each suite and the costliest files took is printed after the run (tools/suite_costs.py, from the JUnit report
# build/suites.xml), whether or not a test failed.
suites: setup graphviz
	@rm -f $(BUILD)/suites.xml; rc=0; \
	  pytest -q $(PARALLEL) --junitxml=$(BUILD)/suites.xml tests/sandbox_contract tests/fidelity tests/integration \
	    tests/reliability || rc=$$?; \
	  if [ -f $(BUILD)/suites.xml ]; then $(BIN)/python tools/suite_costs.py $(BUILD)/suites.xml 20 || true; fi; \
	  exit $$rc

# lint, sanity and unit side by side (each is mostly one process, and there are two cores; each one's output is
# printed whole when it ends), then the suites, then Molecule: any failure stops make test.
checks: setup
	@$(MAKE) --no-print-directory --output-sync=target -j2 lint sanity unit

test: setup graphviz
	@$(MAKE) --no-print-directory checks
	@$(MAKE) --no-print-directory suites
	@$(MAKE) --no-print-directory molecule

PLAYBOOK := SANDBOX_STATE_DIR=$(CURDIR)/.sandbox ansible-playbook -i inventories/sandbox

demo: setup graphviz sandbox-up
	$(PLAYBOOK) playbooks/site.yml
	$(PLAYBOOK) playbooks/verify.yml
	@echo
	@echo "The mesh report: reports/localhost/mesh-report.html (and .md, mesh-graph.svg, .png beside it)"
	@echo "The demo runs on the sandbox (a test double of EKS with Istio). Explore it:"
	@echo "  source .sandbox/env && kubectl get pods -A && istioctl proxy-status"
	@echo "  make demo-traffic    # 60 s of traffic through the mesh"
	@echo "  make demo-down       # tear the demo down and stop the sandbox"

demo-traffic: setup
	$(PLAYBOOK) playbooks/traffic.yml

demo-down: setup
	@if [ -f .sandbox/state.json ]; then $(PLAYBOOK) playbooks/teardown.yml; fi
	$(SANDBOX) down

bench: setup
	bash tools/system_deps.sh nginx=nginx-light hey=hey wrk=wrk
	$(BIN)/python bench/run.py

# The docs site: antsibull-docs writes the pages of every plugin and role (of this collection and of the ones its
# pages refer to, so every reference resolves offline), Sphinx renders them; any warning fails (-W).
DOCS ?= $(BUILD)/docs
docs: setup
	@rm -rf $(DOCS) && mkdir -p $(DOCS)/rst && chmod og-w $(DOCS)/rst
	antsibull-docs --config-file docs/antsibull-docs.cfg collection --use-current --fail-on-error \
	  --dest-dir $(DOCS)/rst istio_demo.mesh kubernetes.core community.okd
	@cp docs/index.rst $(DOCS)/rst/
	@$(BIN)/python docs/ansible_labels.py $(DOCS)/ansible_devel.inv
	MESH_DOCS_ANSIBLE_INVENTORY=$(DOCS)/ansible_devel.inv sphinx-build -q -W --keep-going -c docs -b html \
	  $(DOCS)/rst $(DOCS)/html
	@echo "The docs site: $(DOCS)/html/index.html"

# Graphviz draws the mesh report's service graph (verify.yml, the demo, the tests of the report)
graphviz:
	@bash tools/system_deps.sh dot=graphviz

build: setup
	@mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist .

clean: sandbox-down fleet-down
	rm -rf $(BUILD) .pytest_cache tests/output
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
