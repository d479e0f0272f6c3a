# tradeledger: every target bootstraps .venv itself; nothing needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint types unit bench sim clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The main job: a local 4-validator network on LevelDB with the demo trade walked through
# it, then in the foreground until Ctrl-C. Its data stays in $(DEVNET_DIR); running it again
# resumes the same network (and walks another trade).
DEVNET_DIR ?= .devnet
run: $(STAMP)
	$(BIN)/tradeledger devnet up --dir $(DEVNET_DIR) --demo

# The demo trade on a fresh network that is stopped afterwards; exits 0 when every step succeeded.
demo: $(STAMP)
	dir=$$(mktemp -d); status=0; \
	$(BIN)/tradeledger devnet up --dir $$dir/devnet --detach --demo || status=$$?; \
	$(BIN)/tradeledger devnet down --dir $$dir/devnet; rm -rf $$dir; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a failure here, never a green run.
unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test: lint types unit

# The consensus simulator over many seeds: make sim SEEDS=10000 [SEED_START=0] [MIX=all]
SEEDS ?= 1000
SEED_START ?= 0
MIX ?= all
sim: $(STAMP)
	$(BIN)/python -m network.sim --seeds $(SEEDS) --seed-start $(SEED_START) --mix $(MIX)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
