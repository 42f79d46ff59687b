# The two commands of the README: `make demo` and `make test`. Both install what they need first.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast lint bench clean

setup:
	@bash tools/setup.sh

demo: setup
	$(BIN)/soi-mcu demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check soi_mcu tests bench

clean:
	rm -rf out build
