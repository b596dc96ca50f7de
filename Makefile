# Everything here runs offline once `make install` has fetched the Python and npm packages.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
VENDORED_WHEELS := .cache/vendored-wheels
BUILD := build
HANDLERS := validate_code run_tests staging production rollback waiter stop_deployment
SHARED_SOURCES := $(wildcard lambda_src/shared/*.py)
ZIPS := $(HANDLERS:%=$(BUILD)/%.zip) $(BUILD)/layer.zip $(BUILD)/app.zip

.PHONY: install package lint lint-terraform lint-python lint-rendered test bench demo clean local-aws

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed $(VENDORED_WHEELS)/.downloaded

$(VENV)/.installed: requirements-dev.txt requirements-layer.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov pins packages (boto3 among them) to versions the tests do not use: it gets a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Real wheels of libraries applications vendor (boto3, numpy, pandas, ...), pinned, for the tests of
# validate_code and `make bench`: tests/vendored.py.
$(VENDORED_WHEELS)/.downloaded: tests/vendored-requirements.txt $(VENV)/.installed
	$(PY) tests/vendored.py download
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

package: $(ZIPS)

define handler_zip
$(BUILD)/$(1).zip: $(wildcard lambda_src/$(1)/*.py) $(SHARED_SOURCES) tools/package.py
	$(PYTHON) tools/package.py handler $(1) $$@
endef
$(foreach handler,$(HANDLERS),$(eval $(call handler_zip,$(handler))))

$(BUILD)/app.zip: $(wildcard app/src/*.py) app/test_cases.json tools/package.py
	$(PYTHON) tools/package.py app $@

$(BUILD)/layer.zip: requirements-layer.txt tools/package.py
	$(PYTHON) tools/package.py layer $@

# Every check of `make lint` runs offline; see "Verifying without an AWS account" in the README.
lint: lint-terraform lint-python lint-rendered

lint-terraform: install package
	terraform fmt -check -recursive -diff
	$(PY) -m tools.validate_terraform
	$(CHECKOV_VENV)/bin/checkov --directory . --framework terraform --skip-download --quiet --compact

lint-python: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Applies the configuration to a local AWS and lints the state machine definition and the IAM
# policies exactly as Terraform rendered them (statelint, asl-validator, parliament).
lint-rendered: install package
	$(PY) -m tools.lint_rendered

# The unit tests on every core (pytest-xdist), then the end-to-end tests on their own: they share one
# applied stack, and their deadlines are on the wall clock.
test: lint
	$(PY) -m pytest -q -n auto --ignore=tests/e2e tests
	$(PY) -m pytest -q tests/e2e

bench: install package
	$(PY) tools/bench.py
	$(PY) -m tools.bench_stack

clean:
	rm -rf $(BUILD) .local-aws

# The Terraform applied to a local AWS, two commits through its pipeline, then destroy.
demo: install package
	$(PY) -m local_aws.demo

# A local AWS on 127.0.0.1 (moto with local_aws.compat) in the foreground, until Ctrl-C.
local-aws: install
	$(PY) -m local_aws.server
