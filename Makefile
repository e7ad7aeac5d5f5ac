# Strata: `make serve` runs the main job, `make test` runs every test. Both set up first.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= Release
STRATA_CUDA ?= AUTO
STRATA_WERROR ?= OFF
JOBS ?= $(shell nproc)
VENV := .venv
MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
CMAKE_ARGS ?=

.PHONY: setup build test unit-test python-test serve bench clean

setup:
	@tools/setup.sh

build: setup
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DSTRATA_CUDA=$(STRATA_CUDA) -DSTRATA_WERROR=$(STRATA_WERROR) $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	$(MAKE) --no-print-directory unit-test python-test

unit-test:
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

python-test:
	STRATA_BIN=$(BUILD_DIR)/bin/strata $(VENV)/bin/python -m pytest -q tests/python

# The main job: the OpenAI-compatible HTTP server and the gRPC API on the default model
# (Ctrl-C drains and stops it).
serve: build
	$(BUILD_DIR)/bin/strata serve --model $(MODEL) --host 127.0.0.1 --port 8080 --grpc-port 50051

bench: build
	$(BUILD_DIR)/bin/strata bench --model $(MODEL) --threads $(JOBS) --json bench-cpu.json

clean:
	rm -rf $(BUILD_DIR)
