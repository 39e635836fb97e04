# The README's commands. Nothing else to install by hand beyond Python 3.11, git and make.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench shell clean-local

setup: $(STAMP) static/vendor/.stamp

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

# Front-end libraries from the npm registry through the lockfile, served from static/vendor/.
static/vendor/.stamp: package.json package-lock.json scripts/vendor.sh
	@bash scripts/vendor.sh
	@touch $@

run: setup
	$(PY) -m collections_portal.launcher run

test: setup
	@bash scripts/browser.sh
	$(PY) -m collections_portal.launcher test $(ARGS)

# `make bench NAME=api_list`: one benchmark on the embedded servers (or DATABASE_URL's).
bench: setup
	$(PY) -m collections_portal.launcher exec -- $(PY) benchmarks/$(NAME).py $(ARGS)

shell: setup
	$(PY) -m collections_portal.launcher exec -- $(PY) manage.py shell

clean-local:
	rm -rf .local
