# The commands a newcomer and CI use. `make test` is exactly what .ci/run runs.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2
# Unset: the embedded ThingsBoard emulator keeps the ports it used last (var/thingsboard-emulator.ports.json).
TB_HTTP_PORT ?=
TB_MQTT_PORT ?=

.PHONY: install dev lint types test test-fast openapi check

install:
	@scripts/bootstrap.sh

dev: install
	uv run petit dev --host $(HOST) --port $(PORT) \
		$(if $(TB_HTTP_PORT),--tb-http-port $(TB_HTTP_PORT)) $(if $(TB_MQTT_PORT),--tb-mqtt-port $(TB_MQTT_PORT))

lint: install
	uv run ruff check .
	uv run ruff format --check .

types: install
	uv run mypy

test: install lint types
	@scripts/ensure-services.sh
	uv run pytest -n $(PYTEST_WORKERS) --durations=15

test-fast: install
	@scripts/ensure-services.sh
	uv run pytest -n $(PYTEST_WORKERS) -x -q

openapi: install
	uv run petit openapi

check: test
