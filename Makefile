# Everything here runs offline once `make install` has fetched the Python and npm packages
# (`make demo` needs only the demo's share of them: requirements-demo.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
VENDORED_WHEELS := .cache/vendored-wheels
BUILD := build
# Every lambda_src/<name>/handler.py, as tools/package.py lists them.
HANDLERS := $(patsubst lambda_src/%/handler.py,%,$(wildcard lambda_src/*/handler.py))
SHARED_SOURCES := $(wildcard lambda_src/shared/*.py)
# The layer first: it is the one that takes a while (pip), and says so.
ZIPS := $(BUILD)/layer.zip $(HANDLERS:%=$(BUILD)/%.zip) $(BUILD)/app.zip

.PHONY: install package lint lint-terraform lint-python lint-rendered test test-unit test-e2e bench demo clean local-aws release approve

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed $(VENDORED_WHEELS)/.downloaded

# Everything the tests and the linters run on; it holds the demo's packages too.
$(VENV)/.installed: requirements-dev.txt requirements-demo.txt requirements-layer.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.demo-installed

# Only what `make demo` runs on (no checkov, no Node.js).
$(VENV)/.demo-installed: requirements-demo.txt requirements-layer.txt
	@echo "== installing the demo's Python packages into $(VENV): boto3, moto, the layer's (about 150 MB; 30 s to a minute)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-demo.txt
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
$(BUILD)/$(1).zip: $(wildcard lambda_src/$(1)/*.py) $(SHARED_SOURCES) $(wildcard schemas/*.json) tools/package.py
	$(PYTHON) tools/package.py handler $(1) $$@
endef
$(foreach handler,$(HANDLERS),$(eval $(call handler_zip,$(handler))))

$(BUILD)/app.zip: $(wildcard app/src/*.py) app/test_cases.json tools/package.py
	$(PYTHON) tools/package.py app $@

$(BUILD)/layer.zip: requirements-layer.txt tools/package.py
	@echo "== building the Lambda zips into $(BUILD)/: the layer's wheels from pip, then the handlers and the app (about 5 s)"
	$(PYTHON) tools/package.py layer $@

# Every check of `make lint` runs offline; see docs/verification.md.
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

# The linters and the unit tests (on every core, pytest-xdist) while the end-to-end tests run: these
# spend most of their time waiting, on Terraform's provider and on the pipelines. The end-to-end tests
# run in one process, as they share one applied stack. Each part's output is printed when it ends. The
# rendered lint of `make lint` runs on that stack (tests/e2e/test_terraform_apply.py), instead of on an
# apply of its own.
test: install package
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint-terraform lint-python test-unit test-e2e

test-unit: install package
	$(PY) -m pytest -q -n auto --dist loadgroup --ignore=tests/e2e tests

test-e2e: install package
	$(PY) -m pytest -q --durations=15 tests/e2e

bench: install package
	$(PY) -m tools.bench
	$(PY) -m tools.bench_stack

clean:
	rm -rf $(BUILD) .local-aws

# The Terraform applied to a local AWS, three commits through its pipelines, a parent pipeline waiting
# on two others (examples/parent-pipeline), then destroy.
# `make demo APP=path/to/app [KEEP=1]` pushes your application instead (local_aws/demo.py); KEEP=1
# keeps the stack up until Ctrl-C.
demo: $(VENV)/.demo-installed package
	@echo "== the demo: terraform apply to a local AWS, the pushes, the parent pipeline, terraform destroy (about 3 minutes)"
	$(PY) -m local_aws.demo $(if $(APP),--app "$(APP)") $(if $(KEEP),--keep)

# A local AWS on 127.0.0.1 (moto with local_aws.compat) in the foreground, until Ctrl-C.
local-aws: $(VENV)/.demo-installed
	$(PY) -m local_aws.server

# The release button: `make release MANIFEST=releases/5.16.json [URL=...]` POSTs the manifest to the
# release API, signed with your AWS credentials (tools/release.py); without URL, $RELEASE_API_URL.
release: $(VENV)/.demo-installed
	$(PY) -m tools.release "$(MANIFEST)" $(if $(URL),--url "$(URL)")

# Decide a production approval: `make approve EXECUTION=... DECISION=approve|reject [REASON="..."]` (tools/approve.py)
approve: $(VENV)/.demo-installed
	$(PY) -m tools.approve "$(EXECUTION)" "$(DECISION)" $(if $(REASON),--reason "$(REASON)") $(if $(URL),--url "$(URL)")
