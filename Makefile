# Everything here runs offline once `make install` has fetched the Python packages.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
HANDLERS := validate_code run_tests staging production rollback waiter
SHARED_SOURCES := $(wildcard lambda_src/shared/*.py)
ZIPS := $(HANDLERS:%=$(BUILD)/%.zip) $(BUILD)/layer.zip $(BUILD)/app.zip

.PHONY: install package test bench demo clean local-aws

install: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt requirements-layer.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
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

test: install package
	$(PY) -m pytest -q tests

bench: install package
	$(PY) tools/bench.py
	$(PY) -m tools.bench_stack

clean:
	rm -rf $(BUILD)

# The Terraform applied to a local AWS, two commits through its pipeline, then destroy.
demo: install package
	$(PY) -m local_aws.demo

# A local AWS on 127.0.0.1 (moto with local_aws.compat) in the foreground, until Ctrl-C.
local-aws: install
	$(PY) -m local_aws.server
