# Two commands for a newcomer: `make demo` and `make test`. Both install what is missing first.
SHELL := bash

.PHONY: demo test setup site site-release server check clean-demo bench

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
	cargo bench -p sandbox --bench large_scenario
	cargo bench -p server --bench audit_append
	cargo bench -p server --bench quota_views
	cargo bench -p server --bench cost_report
	cargo bench -p server --bench access_revoke
