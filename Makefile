# Two entry points for a fresh machine: `make demo` and `make test`.
# Everything else here is what they need: a virtualenv built from the hashed
# lock file, the package itself, and the pinned cfn-guard/helm/kubectl binaries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench tools clean lock

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(VENV)/bin/infra-bot tools --install
	$(PY) -m bench.corpus
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/infra-bot validate

test: $(STAMP)
	$(PY) -m pytest -n 2

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
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
