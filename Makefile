# Everything starts from nothing but Python: the first target that needs the
# virtualenv builds it, and a stamp file keeps later runs from reinstalling.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: run test lint bench chaos clean browser firmware firmware-size brokers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP) $(if $(filter c,$(ENGINE)),firmware)
	$(BIN)/provider sandbox --port $(PORT) $(if $(ENGINE),--engine $(ENGINE))

# The MQTT brokers the bridge-channel tests start privately (Debian's mosquitto and
# nats-server); installed when missing. Without them those tests skip, saying why.
brokers:
	@for pkg in mosquitto nats-server; do \
	  command -v $$pkg >/dev/null 2>&1 || test -x /usr/sbin/$$pkg || (export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq $$pkg >/dev/null 2>&1 \
	    || (apt-get update -qq && apt-get install -y -qq $$pkg >/dev/null) \
	    || sudo -n sh -c "apt-get update -qq && apt-get install -y -qq $$pkg >/dev/null") \
	  || echo "$$pkg could not be installed: its MQTT tests will be skipped (apt-get install $$pkg)"; \
	done

# The C firmware core (firmware/): its shared library for the virtual locks
# C engine and its unit-test binary; libmbedtls-dev is installed when missing.
firmware:
	$(MAKE) -s -C firmware all

# Cortex-M4 .text/.data/.bss of the core (installs gcc-arm-none-eabi, ~450 MB).
firmware-size:
	$(MAKE) -s -C firmware size

# axe-core (accessibility checks of the page tests), pinned, from the npm registry.
AXE_VERSION := 4.14.1
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js

$(AXE): $(BIN)/python
	@command -v npm >/dev/null 2>&1 && npm install --silent --prefix $(VENV)/npm --no-save --no-audit \
	  --no-fund axe-core@$(AXE_VERSION) \
	  || echo "npm not available: the page tests' accessibility checks will be skipped"

test: $(STAMP) firmware brokers $(AXE)
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check provider firmware_bridge certify tests bench bridge_contract
	$(BIN)/mypy firmware_bridge/protocol

# wrk (Debian) is the load generator; installed here when missing.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || (export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
	  || sudo -n sh -c 'apt-get update -qq && apt-get install -y -qq wrk >/dev/null') \
	  || { echo "make bench needs wrk (apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench

chaos: $(STAMP) firmware
	$(BIN)/python -m bench.chaos
	# The sandbox left alone for 10 minutes after a provider-certify run (make test: 30 s).
	SOAK_SECONDS=600 $(BIN)/pytest -n 0 -p no:cacheprovider --timeout 1200 \
	  tests/e2e/test_idle_sandbox.py

clean:
	rm -rf $(VENV) var .pytest_cache firmware/build
