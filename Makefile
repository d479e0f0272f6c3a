# tradeledger: every target bootstraps .venv itself; nothing needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint types unit bench bench-micro bench-scale sim clean venv

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

# The adversarial suite against real node processes (docs/adversarial.md), never part of
# `make test` (its fast subset is): make torture [SEED=n] [DURATION=240] [SCENARIO_S=15]
# [SCENARIOS=kill-restart,partition-3|1,...]. Bounded by DURATION (seconds); prints the seed.
# DURATION has no global default here: `make bench` reads the same name.
TORTURE_OPTIONS = --duration $(or $(DURATION),240) $(if $(SEED),--seed $(SEED)) \
	$(if $(SCENARIO_S),--scenario-s $(SCENARIO_S)) $(if $(SCENARIOS),--scenarios '$(SCENARIOS)')
.PHONY: torture
torture: $(STAMP)
	$(BIN)/python -m tests.adversarial.torture $(TORTURE_OPTIONS)

# Benchmarks (never part of `make test`; README "Benchmarks", docs/benchmarks.md).
# make bench [RATE=2000] [DURATION=20] [BATCH=100] [WARMUP=3] [GENERATORS=2] [CONNECTIONS=256]
#            [IN_FLIGHT=6000] [PHASES=latency,open-single,open-batch,saturate-single,saturate-batch]
#            [BENCH_MIX=bl.issue=30,bl.transfer=20,coo.issue=25,pay.attest=25]
#            [PROFILE=saturate-batch]
#            [PEER=0] [BENCH_ARGS=...]
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

BENCH_OPTIONS = $(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION)) \
	$(if $(BATCH),--batch $(BATCH)) $(if $(WARMUP),--warmup $(WARMUP)) \
	$(if $(GENERATORS),--generators $(GENERATORS)) $(if $(CONNECTIONS),--connections $(CONNECTIONS)) \
	$(if $(IN_FLIGHT),--in-flight $(IN_FLIGHT)) $(if $(PHASES),--phases $(PHASES)) \
	$(if $(BENCH_MIX),--mix $(BENCH_MIX)) $(if $(PROFILE),--profile $(PROFILE)) \
	$(if $(filter 0,$(PEER)),--no-peer) $(BENCH_ARGS)
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all $(BENCH_OPTIONS)

# The micro-benchmarks of bench/bench_*.py (codec, signatures, store, Merkle log, consensus).
bench-micro: $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all --micro

# Scale curves: make bench-scale [SCALE=all|proofs|catchup] [SCALE_MAX=1000000] [SCALE_BLOCK=1000]
#                                [CATCHUP_DURATION=30] [CATCHUP_PROFILE=1]
SCALE ?= all
SCALE_OPTIONS = $(if $(SCALE_MAX),--max $(SCALE_MAX)) $(if $(SCALE_BLOCK),--block $(SCALE_BLOCK)) \
	$(if $(CATCHUP_DURATION),--catchup-duration $(CATCHUP_DURATION)) \
	$(if $(filter 1,$(CATCHUP_PROFILE)),--profile)
bench-scale: $(BENCH_STAMP)
	$(BIN)/python -m bench.scale $(SCALE) $(SCALE_OPTIONS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
