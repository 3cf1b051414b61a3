#!/usr/bin/env bash
# Runs the whole test suite (unit, integration and end-to-end). Needs root: the
# end-to-end tests start private daemons and real containers.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root (the end-to-end tests create namespaces, mounts and cgroups)" >&2
    exit 1
fi
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-4}"
