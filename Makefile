# Everything starts from nothing but Python: the first target that needs the
# virtualenv builds it, and a stamp file keeps later runs from reinstalling.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: run test lint bench chaos clean browser mosquitto

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/provider sandbox --port $(PORT)

# Mosquitto (Debian) is the MQTT broker the bridge-channel tests start privately; installed when missing.
mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || (export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq mosquitto >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null) \
	  || sudo -n sh -c 'apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null') \
	  || echo "no mosquitto could be installed: the MQTT tests will be skipped (apt-get install mosquitto)"

test: $(STAMP) mosquitto
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

chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) var .pytest_cache
