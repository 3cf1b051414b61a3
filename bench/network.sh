#!/usr/bin/env bash
# Networking benchmark (issue 4): the cost of the default bridge on `run --rm true`, the
# time from `run -d -p` to the first HTTP answer, and network setup + teardown alone.
#
#   bench/network.sh             build release, start a private daemon, measure, clean up
#   RUNS=50 bench/network.sh
#   NO_BUILD=1 bench/network.sh  use the last release build as it is
#   NO_PEER=1 bench/network.sh   skip podman even when installed
#
# Needs root, /bin/busybox (static), the docker CLI and curl. The daemon gets its own
# bridge (bn<pid>), subnet (10.254.x.0/24) and nftables table; the EXIT trap removes all of
# it. Medians of RUNS runs after WARMUP (bash loop with date +%s%N; hyperfine when present).
set -euo pipefail

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
DOCKER=${DOCKER:-docker}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/bnb$$}
CG=berth-bench-$$
SOCK=$DIR/d.sock
BERTH=$DIR/berth
BRIDGE=bn$$
SUBNET_OCTET=$((($$ % 200) + 20))
export DOCKER_HOST=unix://$SOCK
export DOCKER_CONFIG=$DIR/cfg
export DOCKER_CLI_HINTS=false
unset DOCKER_CONTEXT DOCKER_API_VERSION BERTH_HOST || true

[ "$(id -u)" = 0 ] || { echo "bench/network.sh: needs root" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench/network.sh: needs /bin/busybox" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/network.sh: needs curl" >&2; exit 1; }

DAEMON_PID=
PODMAN_DIR=$DIR/podman
PODMAN_OK=
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
    if [ -n "$PODMAN_OK" ]; then
        pm rm -af -t 0 >/dev/null 2>&1
        pm network rm -f bnbench >/dev/null 2>&1
    fi
    ip link del "$BRIDGE" 2>/dev/null
    awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m"; done
    for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
        for c in "$h/$CG" "$h/$CG-podman"; do
            [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR/cfg" "$DIR/res"
echo '{}' >"$DIR/cfg/config.json"
if [ -z "${NO_BUILD:-}" ]; then
    log "scripts/build-release.sh"
    "$REPO/scripts/build-release.sh" >/dev/null
fi
cp "$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release/berth" "$BERTH"

log "starting daemon (bridge $BRIDGE, 10.254.$SUBNET_OCTET.0/24)"
"$BERTH" daemon --data-root "$DIR/data" --exec-root "$DIR/x" -H "unix://$SOCK" \
    --pidfile "$DIR/berth.pid" --cgroup-parent "$CG" \
    --bridge "$BRIDGE" --bip "10.254.$SUBNET_OCTET.1/24" >"$DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
    "$DOCKER" version >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$DIR/daemon.log" >&2; exit 1; }
    sleep 0.05
done
R=$DIR/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/www"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
echo bench-ok >"$R/www/index.html"
chmod 1777 "$R/tmp"
tar -C "$R" -cf "$DIR/rootfs.tar" .
"$DOCKER" import -c 'CMD ["sh"]' "$DIR/rootfs.tar" busybox:latest >/dev/null
"$DOCKER" run --rm busybox true

pm() {
    local rt=()
    command -v runc >/dev/null && rt=(--runtime "$(command -v runc)")
    podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --tmpdir "$PODMAN_DIR/tmp" \
        --network-config-dir "$PODMAN_DIR/net" --events-backend file --cgroup-manager cgroupfs \
        "${rt[@]}" "$@"
}
PM_RUN="run --cgroup-parent /$CG-podman --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
if [ -z "${NO_PEER:-}" ] && command -v podman >/dev/null; then
    mkdir -p "$PODMAN_DIR"/{root,run,tmp,net}
    if pm import "$DIR/rootfs.tar" docker.io/library/busybox:latest >"$DIR/podman.log" 2>&1 &&
        pm $PM_RUN --rm busybox true >>"$DIR/podman.log" 2>&1; then
        PODMAN_OK=1
        log "peer: $(podman --version) (its default bridge network)"
    else
        log "podman cannot run bridged containers here; peer skipped:"
        tail -3 "$DIR/podman.log" >&2
    fi
fi

# median in ms of the runs of a shell command
measure() {
    local name=$1 cmd=$2 i t0 t1 times=()
    log "measure $name: $cmd"
    for ((i = 0; i < WARMUP; i++)); do bash -c "$cmd" >/dev/null; done
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N); bash -c "$cmd" >/dev/null; t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n |
        awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f\n", m/1000}' >"$DIR/res/$name"
}
res() { cat "$DIR/res/$1" 2>/dev/null || echo "-"; }

B="$BERTH -H unix://$SOCK"
measure berth_none "$B run --rm --network none busybox true"
measure berth_bridge "$B run --rm busybox true"
measure docker_bridge "$DOCKER run --rm busybox true"
"$DOCKER" network create --subnet "10.254.$((SUBNET_OCTET + 1)).0/24" bnuser >/dev/null
measure berth_user "$B run --rm --network bnuser busybox true"
if [ -n "$PODMAN_OK" ]; then
    PODMAN_CMD="podman --root $PODMAN_DIR/root --runroot $PODMAN_DIR/run --tmpdir $PODMAN_DIR/tmp --network-config-dir $PODMAN_DIR/net --events-backend file --cgroup-manager cgroupfs"
    command -v runc >/dev/null && PODMAN_CMD="$PODMAN_CMD --runtime $(command -v runc)"
    measure podman_bridge "$PODMAN_CMD $PM_RUN --rm busybox true"
fi

# run -d -p → first HTTP answer: total from the start of `run -d`, and after it returned
RM_FLAGS=
first_answer() { # engine-cmd port [run flags] → "total_us after_us"
    local cmd=$1 port=$2 flags=${3:-} t0 t1 t2 id deadline
    t0=$(date +%s%N)
    id=$($cmd run -d $flags -p "$port:80" busybox httpd -f -p 80 -h /www) || return 1
    t1=$(date +%s%N)
    deadline=$((t1 + 10000000000))
    until curl -s -m 1 "http://127.0.0.1:$port/" | grep -q bench-ok; do
        [ "$(date +%s%N)" -lt "$deadline" ] || { $cmd rm -f "$id" >/dev/null; return 1; }
    done
    t2=$(date +%s%N)
    $cmd rm -f $RM_FLAGS "$id" >/dev/null
    echo "$(((t2 - t0) / 1000)) $(((t2 - t1) / 1000))"
}
med_col() { sort -n | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f\n", m/1000}'; }
log "run -d -p to first answer ($RUNS runs)"
: >"$DIR/res/first.raw"
for ((i = 0; i < RUNS; i++)); do first_answer "$DOCKER" $((20000 + $$ % 1000 * 10 + i % 10)) >>"$DIR/res/first.raw"; done
FIRST_TOTAL=$(cut -d' ' -f1 "$DIR/res/first.raw" | med_col)
FIRST_AFTER=$(cut -d' ' -f2 "$DIR/res/first.raw" | med_col)
PM_FIRST_TOTAL=- PM_FIRST_AFTER=-
if [ -n "$PODMAN_OK" ]; then
    : >"$DIR/res/pfirst.raw"
    RM_FLAGS="-t 0"
    for ((i = 0; i < 10; i++)); do first_answer "$PODMAN_CMD" $((21000 + $$ % 1000 * 10 + i % 10)) "--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --cgroup-parent /$CG-podman" >>"$DIR/res/pfirst.raw" || true; done
    PM_FIRST_TOTAL=$(cut -d' ' -f1 "$DIR/res/pfirst.raw" | med_col)
    PM_FIRST_AFTER=$(cut -d' ' -f2 "$DIR/res/pfirst.raw" | med_col)
fi

SETUP=$(awk -v a="$(res berth_bridge)" -v b="$(res berth_none)" 'BEGIN { printf "%.2f", a - b }')
echo
echo "## Networking — $(date -u +%Y-%m-%dT%H:%MZ), median of $RUNS runs ($WARMUP warm-up), ms"
echo
echo "| measurement | berth | podman | target |"
echo "| --- | ---: | ---: | ---: |"
echo "| berth run --rm --network none busybox true | $(res berth_none) | | |"
echo "| berth run --rm busybox true (default bridge) | $(res berth_bridge) | $(res podman_bridge) | ≤ 20 |"
echo "| docker run --rm busybox true (default bridge) | $(res docker_bridge) | | ≤ 20 |"
echo "| berth run --rm --network <user net> busybox true (+ DNS server) | $(res berth_user) | | |"
echo "| network setup + teardown alone (bridge − none) | $SETUP | | |"
echo "| docker run -d -p → first HTTP answer, from the start of run | $FIRST_TOTAL | $PM_FIRST_TOTAL | |"
echo "| … after run -d returned | $FIRST_AFTER | $PM_FIRST_AFTER | ≤ 20 |"
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
[ -n "$PODMAN_OK" ] && echo "peer: $(podman --version)"
echo "first answer: curl -s -m 1 http://127.0.0.1:PORT/ in a loop until busybox httpd answers"
