# The project's commands. `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements/base.txt requirements/local.txt

.PHONY: run test lint format bench pacing loadtest eval redteam faults migrate seed messages clean

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/local.txt
	@touch $(STAMP)

## run: install, migrate, load the demo content and start every process (embedded defaults when no services)
run: $(STAMP)
	@command -v msgfmt >/dev/null 2>&1 && $(PY) manage.py compilemessages --ignore=.venv --verbosity=0 || echo "gettext is not installed: pages show English (Debian: apt-get install gettext)"
	$(PY) manage.py run_stack

## test: install and run the whole suite against real PostgreSQL and Redis, with coverage, lint and import contracts
test: $(STAMP)
	@bash scripts/ensure_services.sh
	@bash scripts/ensure_promtool.sh
	@bash scripts/ensure_debian_tools.sh
	$(PY) manage.py compilemessages --ignore=.venv --verbosity=0
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	@$(VENV)/bin/pytest --cov --cov-report=term --cov-fail-under=85 --durations=15 -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: the performance benchmark (never in CI); prints one JSON line per scenario
bench: $(STAMP)
	@bash scripts/ensure_services.sh
	$(PY) -m benchmarks.run

## pacing: the pacing load test at the Graph fake (never in CI): 1 000 replies to 1 000 customers (the
## number's limit binds), then 100 customers x 10 (the pair limit binds); one JSON line each
pacing: $(STAMP)
	@bash scripts/ensure_services.sh
	$(PY) -m benchmarks.pacing
	$(PY) -m benchmarks.pacing --recipients 100

## eval: the golden conversations through the real pipeline: deterministic (offline answerer) without
## OPENAI_API_KEY, live against OPENAI_BASE_URL k times (K=4) with it; VARIANT=b tries a prompt variant;
## EVAL_ARGS passes more options
eval: $(STAMP)
	@bash scripts/ensure_services.sh
	$(PY) manage.py converse run $(if $(K),--k $(K),) $(if $(VARIANT),--variant $(VARIANT),) $(EVAL_ARGS)

## redteam: the red-team corpus through the real guard (leaks, false blocks, P99) and through the whole pipeline
redteam: $(STAMP)
	@bash scripts/ensure_services.sh
	@$(PY) -m benchmarks.redteam; guard=$$?; \
	  $(VENV)/bin/pytest tests/e2e/test_redteam.py -m redteam -s -q -p no:cacheprovider; pipeline=$$?; \
	  test $$guard -eq 0 -a $$pipeline -eq 0

## faults: the whole fault run (never in CI, ~10 min): 1 500 messages under load while every fault is injected,
## against a private Redis and PostgreSQL; prints lost / answered twice / crashed / dead / recovery times
faults: $(STAMP)
	$(PY) -m benchmarks.faults

## loadtest: Locust, headless, against a locally started stack
loadtest: $(STAMP)
	@bash scripts/ensure_services.sh
	$(PY) -m benchmarks.loadtest

migrate: $(STAMP)
	$(PY) manage.py migrate

seed: $(STAMP)
	$(PY) manage.py seed_demo

## messages: refresh the pt-BR catalogue from the code and templates, then compile it
messages: $(STAMP)
	$(PY) manage.py makemessages -l pt_BR --no-location --ignore=.venv --ignore=var --ignore=staticfiles --ignore=tests --ignore=benchmarks
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) .coverage htmlcov .pytest_cache .ruff_cache
