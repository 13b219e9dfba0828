# Two commands do all the set-up on a machine that has only Python: `make run`, `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python

# Ports and folders for `make run` (override: make run INTAKE_PORT=9001).
export NATS_PORT PG_PORT INTAKE_PORT EVALUATION_PORT ESCALATION_PORT NOTIFICATION_PORT
export SEXTO_DATA_DIR DATABASE_URL
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run run-cluster test test-cluster chaos fuzz lint format bench clean token traces

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml apps/*/pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.synced

run: install
	$(PY) -m sexto_devstack.run

# Print the spans of `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make run` (another terminal).
TRACES_PORT ?= 4318
traces: install
	$(PY) -m sexto_devstack.traces --port $(TRACES_PORT)

# Three NATS nodes on free loopback ports (streams R3, fsync always), two instances of each
# service (the second on its port + 100) sharing durable consumers.
run-cluster: install
	$(PY) -m sexto_devstack.run --cluster --instances 2

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install lint
	$(PY) -m pytest

# Schemathesis against the four services (at least 200 examples per operation, every role):
# SEXTO_FUZZ_EXAMPLES=50 make fuzz for a quicker round.
fuzz: install
	$(PY) -m pytest -m fuzz tests/fuzz -q

# A 3-node NATS cluster on loopback, broken on purpose: leader killed, follower paused,
# a node back from an empty disk, no quorum; the accounts' refusals.
test-cluster: install
	$(PY) -m pytest -m cluster tests/cluster -q

# The cluster stack under load (CHAOS_INCIDENTS=1000 at CHAOS_RATE=20/s) while service
# instances, NATS nodes (leader included) and PostgreSQL are killed, one at a time; then
# nothing lost, nothing twice, read models equal a rebuild, every chain verifies.
chaos: install
	$(PY) -m chaos.run

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# A bearer token from the local issuer of `make run`:
#   make token ROLE=intervener SCOPE=school-042     (school roles: SCOPE is the school)
#   make token ROLE=police_dispatch SCOPE=spvm      (police, prosecutor: SCOPE is the territory)
#   SUBJECT=iv-demo-1 names the caller (the seeded certified intervener)
token: install
	@SEXTO_AUTH_LOCAL_KEY_FILE=$${SEXTO_DATA_DIR:-.data}/issuer/ed25519.pem \
	  $(PY) -m sexto_service.auth.issuer --role $(ROLE) --scope "$(SCOPE)" --subject "$(SUBJECT)"

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
