# Two entry points for a fresh machine: `make demo` and `make test`.
# Everything else here is what they need: a virtualenv built from the hashed
# lock file, the package itself, and the pinned cfn-guard/helm/kubectl binaries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CHROMIUM := $(VENV)/.chromium
OCTOKIT  := tests/octokit/node_modules/.installed

.PHONY: demo test lint bench tools clean lock

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(VENV)/bin/infra-bot tools --install
	$(PY) -m bench.corpus
	touch $(STAMP)

# The whole loop on this machine: moto as AWS, a local GitHub, the offline generator
# unless AWS credentials are present. The conversation is also written as HTML.
demo: $(STAMP)
	$(VENV)/bin/infra-bot demo --html .infra-bot/demo.html

# Tests run in random order (pytest-randomly): the header prints the seed and
# `--randomly-seed=N` replays it; `-p no:randomly` runs them in file order.
# pytest's exit 5 means it collected nothing: a failure, said as such.
test: $(STAMP) $(CHROMIUM) $(OCTOKIT)
	@echo "$(PY) -m pytest -n 2"; $(PY) -m pytest -n 2; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); that is a failure" >&2; fi; \
	exit $$rc

# GitHub's OpenAPI description and recorded responses (npm, pinned by the lock file)
# that tests/test_github_fidelity.py checks the fake GitHub against.
$(OCTOKIT): tests/octokit/package-lock.json
	npm ci --prefix tests/octokit --ignore-scripts --no-audit --no-fund
	@touch $@

# Debian's chromium (and an emoji font, so the bot's emoji render) for the test that
# opens the demo's HTML transcript headless. Installed once through apt (root or
# sudo), waiting for another apt run to finish; elsewhere that one test skips, which
# fails a CI=true run (tests/conftest.py).
$(CHROMIUM):
	@mkdir -p $(VENV)
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi emoji; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    chromium fonts-noto-color-emoji; \
	else echo "no apt-get: install chromium yourself for the transcript test"; fi
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench.bench_validate

tools: $(STAMP)
	$(VENV)/bin/infra-bot tools

# Regenerate the lock after changing dependencies (needs network to PyPI).
lock:
	$(PYTHON) -m pip install --quiet uv==0.13.9
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --extra demo --generate-hashes \
	  --python-version 3.11 -o requirements.lock
	# What the workflows and action.yml install: only `dependencies`, at the dev lock's versions.
	$(PYTHON) -m uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	  -c requirements.lock -o requirements-runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/octokit/node_modules
