#!/usr/bin/env bash
# The test command of the README: formatting, lints, and every test of the workspace with
# every feature (the Kafka tests start librdkafka's mock cluster on 127.0.0.1 themselves, so
# nothing needs to be installed or running).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The default build (no Kafka) must stand on its own too.
cargo check --workspace --locked
cargo test --workspace --all-features --locked
