# Two commands for a newcomer: `make demo` and `make test`. Both install what is missing first.
SHELL := bash

.PHONY: demo test setup site site-release server check clean-demo bench bench-cluster manifests image image-tag bench-frontend screens

demo: setup server site
	./target/debug/berth demo $(DEMO_ARGS)

test: setup
	scripts/test.sh

setup:
	scripts/setup.sh

# The WASM bundle, JS glue and CSS under target/site/pkg.
site:
	scripts/site.sh

site-release:
	PROFILE=release scripts/site.sh

server:
	cargo build -p server --bin berth

# Fast feedback while working: type-check both builds without producing binaries.
check:
	cargo check --workspace --all-targets
	cargo check -p app --target wasm32-unknown-unknown --features hydrate

# Forget the demo's data (its Postgres cluster lives there).
clean-demo:
	rm -rf .berth-demo

# Figures for the issues' speed targets (release build; prints, asserts nothing).
bench:
	cargo bench -p sandbox --bench local_cluster
	BENCH_SCENARIO=demo cargo bench -p sandbox --bench local_cluster
	cargo bench -p server --bench audit_append
	$(MAKE) bench-cluster
	cargo bench -p server --bench quota_views
	cargo bench -p server --bench memory
	cargo bench -p server --bench cost_report
	cargo bench -p server --bench access_revoke
	cargo bench -p server --bench load
	$(MAKE) bench-frontend

# The large scenario loaded once into a real control plane whose state the server benchmarks
# then restart on (10–30 min on 2 cores; target/tmp/bench-cluster-large-*).
bench-cluster:
	BENCH_LOAD_ONLY=1 cargo bench -p server --bench quota_views

# The bytes a first visit transfers and the time to hydrate, with the release bundle, in
# headless Chromium against the demo.
bench-frontend: setup server site-release
	cd end2end && npx playwright test -c bench.config.ts

# docs/screens/: each persona's home at 390 and 1280 px, from a fresh demo.
screens: setup server site
	cd end2end && npx playwright test -c screens.config.ts

# deploy/manifests/berth.yaml: `helm template` of the chart, the image tagged for HEAD (or TAG=…).
manifests:
	scripts/manifests.sh $(TAG)

# `<workspace version>-<git sha>`: the only tag Berth's images carry.
image-tag:
	@echo "$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)-$$(git rev-parse --short=12 HEAD)"

image:
	docker build -f deploy/Dockerfile -t ghcr.io/berth-dev/berth:$$($(MAKE) -s image-tag) .
