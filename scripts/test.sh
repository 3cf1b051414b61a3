#!/usr/bin/env bash
# Runs the whole test suite (unit, integration and end-to-end) after installing what it
# needs (scripts/install-test-deps.sh). Needs root: the end-to-end tests start private
# daemons and real containers.
#
# A missing prerequisite fails its test here (BERTH_TEST_STRICT=1); what the host itself
# lacks (no /dev/kvm, a cgroup v2-only kernel for the v1 checks, ...) is a skip, listed at
# the end and counted in the closing line: `N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root (the end-to-end tests create namespaces, mounts and cgroups)" >&2
    exit 1
fi
./scripts/install-test-deps.sh

mkdir -p target
export BERTH_TEST_STRICT=1
export BERTH_TEST_SKIP_LOG="$PWD/target/test-skips.log"
out="$PWD/target/test-output.log"
: >"$BERTH_TEST_SKIP_LOG"

cargo build --workspace --all-targets
set +e
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-4}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

# libtest's lines: "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
passed=$(sed -n 's/^test result: .* \([0-9]\+\) passed; .*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
failed=$(sed -n 's/^test result: .* \([0-9]\+\) failed; .*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
skipped=$(cut -d: -f1 "$BERTH_TEST_SKIP_LOG" | sort -u | wc -l)
if [ "$skipped" -gt 0 ]; then
    echo
    echo "skipped (what this host lacks; counted as skipped, not passed):"
    sed 's/^/  /' "$BERTH_TEST_SKIP_LOG"
fi
echo
# A skipped test returned early, so libtest counted it as passed.
echo "berth: $((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$rc"
