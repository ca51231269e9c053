#!/usr/bin/env bash
# Installs tansu (an independent Kafka-protocol broker, from crates.io) for the optional
# interoperability test in crates/waymark/tests/kafka.rs. It compiles for about 15 minutes on
# two cores, so CI does not install it; the test passes with a note when tansu is absent.
set -euo pipefail
command -v tansu >/dev/null 2>&1 || cargo install tansu --locked --features dynostore
