# MAGI — two commands matter: `make run` and `make test`. Both set themselves up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean helm-lint

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## make run: the whole suite on embedded defaults (in-process bus, nx-27017 under .magi/)
run: $(STAMP)
	$(BIN)/magi up

## make test: RabbitMQ up (installed if missing and root), a MongoDB-wire server, every test
test: $(STAMP)
	bash scripts/test.sh

## make bench: NS instantiate→terminate cycles over RabbitMQ, services as separate processes
bench: $(STAMP)
	bash scripts/bench.sh

helm-lint:
	bash scripts/helm-lint.sh

clean:
	rm -rf $(VENV) .magi .pytest_cache bench-results
