#!/usr/bin/env bash
# `cp` benchmark (issue 5): a ~200 MB directory tree (many small files plus a few big ones)
# copied into a running container and back out, with our CLI and the docker CLI, against
# `tar -c | tar -x` on the host as the floor; and `berth volume export > file` /
# `berth volume import < file` of the same tree in a volume, against host `tar -cf file` /
# `tar -xf file` as their floors. Prints a markdown table of medians.
#
#   bench/cp.sh               build release, start a private daemon, measure, clean up
#   RUNS=7 bench/cp.sh
#   NO_BUILD=1 bench/cp.sh    use the last release build as it is
#
# Needs root and the docker CLI. Each run copies into a fresh directory name; the page
# cache is warm for every row (the source tree is read once before timing).
set -euo pipefail

RUNS=${RUNS:-5}
DOCKER=${DOCKER:-docker}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/bcp$$}
SOCK=$DIR/d.sock
BERTH=$DIR/berth
export DOCKER_HOST=unix://$SOCK
export DOCKER_CONFIG=$DIR/cfg
export DOCKER_CLI_HINTS=false
unset DOCKER_CONTEXT DOCKER_API_VERSION BERTH_HOST || true

[ "$(id -u)" = 0 ] || { echo "bench/cp.sh: needs root" >&2; exit 1; }
DAEMON_PID=
log() { printf '== %s\n' "$*" >&2; }

cleanup() {
    set +e
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        ids=$("$DOCKER" ps -aq 2>/dev/null)
        [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
        kill -TERM "$DAEMON_PID"
        for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m"; done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR/cfg" "$DIR/out"
echo '{}' >"$DIR/cfg/config.json"
if [ -z "${NO_BUILD:-}" ]; then
    log "scripts/build-release.sh"
    "$REPO/scripts/build-release.sh" >/dev/null
fi
cp "$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release/berth" "$BERTH"

log "starting daemon"
"$BERTH" daemon --data-root "$DIR/data" --exec-root "$DIR/x" -H "unix://$SOCK" \
    --pidfile "$DIR/berth.pid" --bridge none >"$DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
    "$DOCKER" version >/dev/null 2>&1 && break
    sleep 0.05
done
"$BERTH" -H "unix://$SOCK" image bootstrap busybox >/dev/null

log "making the tree: 4 x 40 MB files + 4000 files of 10 KB in 40 dirs"
SRC=$DIR/tree
mkdir -p "$SRC"
for i in 1 2 3 4; do head -c 40000000 /dev/urandom >"$SRC/big$i"; done
for d in $(seq 40); do
    mkdir -p "$SRC/d$d"
    for f in $(seq 100); do head -c 10000 /dev/urandom >"$SRC/d$d/f$f"; done
done
SIZE=$(du -sb "$SRC" | cut -f1)
tar -cf - -C "$DIR" tree >/dev/null # warm the page cache

C=$("$DOCKER" run -d --network none busybox sleep 100000)

host_floor() { mkdir -p "$DIR/out/h$1" && tar -cf - -C "$DIR" tree | tar -xf - -C "$DIR/out/h$1"; }
berth_in() { "$BERTH" -H "unix://$SOCK" cp "$SRC" "$C:/b"; }
docker_in() { "$DOCKER" cp "$SRC" "$C:/d"; }
berth_out() { "$BERTH" -H "unix://$SOCK" cp "$C:/b" "$DIR/out/bo$1"; }
docker_out() { "$DOCKER" cp "$C:/d" "$DIR/out/do$1"; }
clean_out() { rm -rf "$DIR/out"/*; sync; }
clean_b() { "$DOCKER" exec "$C" rm -rf /b; sync; }
clean_d() { "$DOCKER" exec "$C" rm -rf /d; sync; }

log "measuring ($RUNS rounds, $((SIZE / 1000000)) MB)"
# Interleaved rounds: every row runs once per round, so the page cache and the disk's
# writeback state (which moves a 200 MB write between 0.2 and 1.5 s here) are the same for
# the floor and for each copy. Medians per row.
declare -A T
timed() { # row prep cmd n
    local row=$1 prep=$2 cmd=$3 n=$4 a b
    $prep "$n"
    a=$(date +%s%N)
    $cmd "$n" >/dev/null 2>&1
    b=$(date +%s%N)
    T[$row]+="$(((b - a) / 1000000)) "
}
med() { printf '%s\n' ${T[$1]} | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for n in $(seq "$RUNS"); do
    timed floor clean_out host_floor "$n"
    timed bin clean_b berth_in "$n"
    timed din clean_d docker_in "$n"
    timed bout clean_out berth_out "$n"
    [ "$n" -eq "$RUNS" ] || timed dout clean_out docker_out "$n"
done
cmp "$SRC/big1" "$DIR/out/bo$RUNS/big1" || { echo "berth cp out differs" >&2; exit 1; }
[ "$(find "$DIR/out/bo$RUNS" -type f | wc -l)" -eq "$(find "$SRC" -type f | wc -l)" ] ||
    { echo "berth cp out lost files" >&2; exit 1; }
timed dout clean_out docker_out "$RUNS"
FLOOR=$(med floor)
BIN=$(med bin)
DIN=$(med din)
BOUT=$(med bout)
DOUT=$(med dout)
# Both directions must have moved every byte.
want=$(find "$SRC" -type f | wc -l)
got=$("$DOCKER" exec "$C" sh -c 'find /b -type f | wc -l')
[ "$got" -eq "$want" ] || { echo "copy in lost files: $got != $want" >&2; exit 1; }
cmp "$SRC/big1" "$DIR/out/do$RUNS/big1" || { echo "docker cp out differs" >&2; exit 1; }

# Volume export/import: the tree in volume `bv` (filled by `berth volume import`), written to
# a file and read back into fresh volumes, against host tar to and from a file.
log "volume export/import"
"$DOCKER" rm -f "$C" >/dev/null
tar -cf "$DIR/seed.tar" -C "$SRC" .
"$BERTH" -H "unix://$SOCK" volume import bv <"$DIR/seed.tar"
VOLS=$DIR/data/volumes
host_tar_c() { tar -cf "$DIR/out/h$1.tar" -C "$SRC" .; }
host_tar_x() { mkdir -p "$DIR/out/x$1" && tar -xf "$DIR/seed.tar" -C "$DIR/out/x$1"; }
vol_export() { "$BERTH" -H "unix://$SOCK" volume export bv >"$DIR/v.tar"; }
vol_import() { "$BERTH" -H "unix://$SOCK" volume import "bi$1" <"$DIR/seed.tar"; }
clean_vi() {
    for v in $("$DOCKER" volume ls -q | grep '^bi'); do "$DOCKER" volume rm "$v" >/dev/null; done
    sync
}
for n in $(seq "$RUNS"); do
    timed htc clean_out host_tar_c "$n"
    timed vexp clean_out vol_export "$n"
    timed htx clean_out host_tar_x "$n"
    timed vimp clean_vi vol_import "$n"
done
cmp <(tar -xOf "$DIR/v.tar" ./big1) "$SRC/big1" || { echo "volume export differs" >&2; exit 1; }
cmp "$SRC/big1" "$VOLS/bi$RUNS/_data/big1" || { echo "volume import differs" >&2; exit 1; }
[ "$(find "$VOLS/bi$RUNS/_data" -type f | wc -l)" -eq "$(find "$SRC" -type f | wc -l)" ] ||
    { echo "volume import lost files" >&2; exit 1; }
HTC=$(med htc)
VEXP=$(med vexp)
HTX=$(med htx)
VIMP=$(med vimp)

ratio() { awk -v a="$1" -v b="${2:-$FLOOR}" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
mbs() { awk -v ms="$1" -v s="$SIZE" 'BEGIN { printf "%.0f", (ms > 0 ? s / 1e6 / (ms / 1000) : 0) }'; }
echo
echo "cp of $((SIZE / 1000000)) MB (4 x 40 MB + 4000 x 10 KB), median of $RUNS runs, $(nproc) cores"
echo
echo "| what | ms | MB/s | vs host tar |"
echo "| --- | ---: | ---: | ---: |"
echo "| host \`tar -c \| tar -x\` (floor) | $FLOOR | $(mbs "$FLOOR") | 1.00x |"
echo "| \`berth cp DIR c:/x\` (in) | $BIN | $(mbs "$BIN") | $(ratio "$BIN") |"
echo "| \`docker cp DIR c:/x\` (in) | $DIN | $(mbs "$DIN") | $(ratio "$DIN") |"
echo "| \`berth cp c:/x DIR\` (out) | $BOUT | $(mbs "$BOUT") | $(ratio "$BOUT") |"
echo "| \`docker cp c:/x DIR\` (out) | $DOUT | $(mbs "$DOUT") | $(ratio "$DOUT") |"
echo "| host \`tar -cf FILE tree\` (export floor) | $HTC | $(mbs "$HTC") | 1.00x |"
echo "| \`berth volume export V > FILE\` | $VEXP | $(mbs "$VEXP") | $(ratio "$VEXP" "$HTC") |"
echo "| host \`tar -xf FILE\` (import floor) | $HTX | $(mbs "$HTX") | 1.00x |"
echo "| \`berth volume import V < FILE\` | $VIMP | $(mbs "$VIMP") | $(ratio "$VIMP" "$HTX") |"
