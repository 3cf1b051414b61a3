#!/usr/bin/env bash
# Engine-core benchmark (issue 2): container start latency and memory.
#
#   bench/run.sh                 build release, start a private daemon, measure, clean up
#   RUNS=50 N_CONTAINERS=50 bench/run.sh
#   NO_BUILD=1 bench/run.sh      use the last release build as it is
#   NO_PEER=1 bench/run.sh       skip podman / docker engine even when installed
#
# Needs root, /bin/busybox (static) and the docker CLI. Uses hyperfine when installed
# (`apt-get install -y hyperfine`), else a bash loop with `date +%s%N`. Everything it
# creates lives under $BENCH_DIR (default /tmp/bzb<pid>) and cgroup parent berth-bench-<pid>;
# the EXIT trap removes all of it. See bench/README.md.
set -euo pipefail

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
N_CONTAINERS=${N_CONTAINERS:-50}
N_PEER_CONTAINERS=${N_PEER_CONTAINERS:-$N_CONTAINERS}
DOCKER=${DOCKER:-docker}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/bzb$$}
CG=berth-bench-$$
SOCK=$DIR/d.sock
BERTH=$DIR/berth
export DOCKER_HOST=unix://$SOCK
export DOCKER_CONFIG=$DIR/cfg
export DOCKER_CLI_HINTS=false
unset DOCKER_CONTEXT DOCKER_API_VERSION BERTH_HOST || true

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench/run.sh: needs /bin/busybox (busybox-static)" >&2; exit 1; }
command -v "$DOCKER" >/dev/null || { echo "bench/run.sh: needs the docker CLI" >&2; exit 1; }

DAEMON_PID=
PODMAN_DIR=$DIR/podman
PODMAN_OK=
DOCKERD_OK=

log() { printf '== %s\n' "$*" >&2; }

# --- cleanup -----------------------------------------------------------------------------
monitor_pids() { # pids of `berth monitor` processes of this daemon
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^[^ ]* monitor .*$DIR/x" && echo "${p#/proc/}"
    done
    return 0
}
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
    for p in $(monitor_pids); do kill -KILL "$p" 2>/dev/null; done
    # A stopped daemon keeps its bridge up (containers may come back): this one does not.
    ip link del "bb$$" 2>/dev/null
    if [ -n "$PODMAN_OK" ]; then
        pm rm -af -t 0 >/dev/null 2>&1
        pm rmi -af >/dev/null 2>&1
    fi
    sleep 0.2
    # mounts under $DIR, deepest first
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

# --- build and start -------------------------------------------------------------------------
mkdir -p "$DIR/cfg" "$DIR/res"
echo '{}' >"$DIR/cfg/config.json" # podman reads DOCKER_CONFIG too, and fails on a missing file
if [ -z "${NO_BUILD:-}" ]; then
    log "scripts/build-release.sh (static, non-PIE)"
    "$REPO/scripts/build-release.sh" >/dev/null
fi
# A private copy: a rebuild in the tree during the run does not change what we measure.
cp "$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release/berth" "$BERTH"

# kB of a process: field Rss or Pss of smaps_rollup (VmRSS from status when no smaps_rollup)
mem_kb() {
    local pid=$1 field=$2
    if [ -r "/proc/$pid/smaps_rollup" ]; then
        awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup"
    else
        awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"
    fi
}

log "starting daemon ($DIR, cgroup parent $CG)"
# crun, when installed, as an added runtime (runc is known to the daemon by its name).
ADD_RUNTIMES=()
command -v crun >/dev/null && ADD_RUNTIMES=(--add-runtime "crun=$(command -v crun)")
"$BERTH" daemon --data-root "$DIR/data" --exec-root "$DIR/x" -H "unix://$SOCK" \
    --pidfile "$DIR/berth.pid" --cgroup-parent "$CG" "${ADD_RUNTIMES[@]}" \
    --bridge "bb$$" --bip "10.253.$((($$ % 200) + 20)).1/24" >"$DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
    "$DOCKER" version >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$DIR/daemon.log" >&2; exit 1; }
    sleep 0.05
done

log "importing busybox:latest"
R=$DIR/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" -cf "$DIR/rootfs.tar" .
"$DOCKER" import -c 'CMD ["sh"]' "$DIR/rootfs.tar" busybox:latest >/dev/null
"$DOCKER" run --rm --network none busybox true # first run: layer unpack, caches
# Idle as a user finds it: started, one image imported, one container run and removed, then
# no request for a while (the daemon gives back code and heap pages after 5-10 s of quiet).
sleep 12
IDLE_RSS=$(mem_kb "$DAEMON_PID" Rss)
IDLE_PSS=$(mem_kb "$DAEMON_PID" Pss)

BERTH_CLI=
if "$BERTH" run --help >/dev/null 2>&1; then BERTH_CLI=1; else log "berth run missing: berth-CLI rows skipped"; fi

# --- peers ---------------------------------------------------------------------------------
# podman on private storage; runc when installed (crun refuses hybrid cgroup hosts), rlimits
# no higher than ours (podman asks for nofile=1048576, which needs CAP_SYS_RESOURCE).
pm() {
    local rt=()
    command -v runc >/dev/null && rt=(--runtime "$(command -v runc)")
    podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --tmpdir "$PODMAN_DIR/tmp" \
        --network-config-dir "$PODMAN_DIR/net" --events-backend file --cgroup-manager cgroupfs \
        "${rt[@]}" "$@"
}
PM_RUN="run --network none --cgroup-parent /$CG-podman --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
if [ -z "${NO_PEER:-}" ] && command -v podman >/dev/null; then
    mkdir -p "$PODMAN_DIR"/{root,run,tmp,net}
    if pm import "$DIR/rootfs.tar" docker.io/library/busybox:latest >"$DIR/podman.log" 2>&1 &&
        pm $PM_RUN --rm busybox true >>"$DIR/podman.log" 2>&1; then
        PODMAN_OK=1
        PODMAN_CMD="podman --root $PODMAN_DIR/root --runroot $PODMAN_DIR/run --tmpdir $PODMAN_DIR/tmp --network-config-dir $PODMAN_DIR/net --events-backend file --cgroup-manager cgroupfs"
        command -v runc >/dev/null && PODMAN_CMD="$PODMAN_CMD --runtime $(command -v runc)"
        log "peer: $(podman --version)"
    else
        log "podman installed but cannot run containers here; peer skipped:"
        tail -3 "$DIR/podman.log" >&2
    fi
fi
if [ -z "${NO_PEER:-}" ] && [ -S /var/run/docker.sock ] &&
    "$DOCKER" -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    if "$DOCKER" -H unix:///var/run/docker.sock import -c 'CMD ["sh"]' "$DIR/rootfs.tar" berth-bench-busybox:latest >/dev/null 2>&1; then
        DOCKERD_OK=1
        log "peer: docker engine at /var/run/docker.sock"
    fi
fi

# --- timing --------------------------------------------------------------------------------
# measure NAME SHELL-COMMAND: median wall time in ms of RUNS runs after WARMUP, into $DIR/res/NAME
measure() {
    local name=$1 cmd=$2 med
    log "measure $name: $cmd"
    if command -v hyperfine >/dev/null; then
        hyperfine --runs "$RUNS" --warmup "$WARMUP" --style basic --shell bash \
            --export-json "$DIR/res/$name.json" "$cmd" >&2
        med=$(jq -r '.results[0].median * 1000' "$DIR/res/$name.json")
    else
        local i t0 t1 times=()
        for ((i = 0; i < WARMUP; i++)); do bash -c "$cmd" >/dev/null; done
        for ((i = 0; i < RUNS; i++)); do
            t0=$(date +%s%N); bash -c "$cmd" >/dev/null; t1=$(date +%s%N)
            times+=($(((t1 - t0) / 1000)))
        done
        med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m/1000}')
    fi
    printf '%.2f\n' "$med" >"$DIR/res/$name"
}
res() { cat "$DIR/res/$1" 2>/dev/null || echo "-"; }

B="$BERTH -H unix://$SOCK"
[ -n "$BERTH_CLI" ] && measure berth_run_rm "$B run --rm --network none busybox true"
measure docker_run_rm "$DOCKER run --rm --network none busybox true"
# The same run under OCI runtime binaries (issue 10), where they can run here, through the
# same client as the first row (berth's CLI when it has `run`).
OCI_RUNTIMES=()
CLIENT=$DOCKER
[ -n "$BERTH_CLI" ] && CLIENT=$B
for rt in runc crun; do
    command -v "$rt" >/dev/null || continue
    if $CLIENT run --rm --network none --runtime "$rt" busybox true >"$DIR/$rt.log" 2>&1; then
        OCI_RUNTIMES+=("$rt")
        measure "run_rm_$rt" "$CLIENT run --rm --network none --runtime $rt busybox true"
    else
        log "--runtime $rt cannot run here, row skipped: $(tail -1 "$DIR/$rt.log")"
    fi
done
[ -n "$BERTH_CLI" ] && measure berth_run_d_rm "$B rm -f \$($B run -d --network none busybox sleep 1000)"
measure docker_run_d_rm "$DOCKER rm -f \$($DOCKER run -d --network none busybox sleep 1000)"
if [ -n "$PODMAN_OK" ]; then
    measure podman_run_rm "$PODMAN_CMD $PM_RUN --rm busybox true"
    measure podman_run_d_rm "$PODMAN_CMD rm -f -t 0 \$($PODMAN_CMD $PM_RUN -d busybox sleep 1000)"
fi
if [ -n "$DOCKERD_OK" ]; then
    DE="$DOCKER -H unix:///var/run/docker.sock"
    measure dockerd_run_rm "$DE run --rm --network none berth-bench-busybox true"
    measure dockerd_run_d_rm "$DE rm -f \$($DE run -d --network none berth-bench-busybox sleep 1000)"
fi

# --- memory --------------------------------------------------------------------------------
sum_mem() { # field pids...
    local f=$1 s=0 p v
    shift
    for p in "$@"; do v=$(mem_kb "$p" "$f" 2>/dev/null || echo 0); s=$((s + ${v:-0})); done
    echo "$s"
}

log "memory: daemon after the timing runs, then $N_CONTAINERS containers running sleep 1000"
sleep 1
WORKED_RSS=$(mem_kb "$DAEMON_PID" Rss)
WORKED_PSS=$(mem_kb "$DAEMON_PID" Pss)
for ((i = 0; i < N_CONTAINERS; i++)); do
    "$DOCKER" run -d --network none busybox sleep 1000 >/dev/null
done
sleep 3 # steady state: monitors give back start-up pages after 2 s without activity
mapfile -t MONS < <(monitor_pids)
NMON=${#MONS[@]}
MON_RSS=$(($(sum_mem Rss "${MONS[@]}") / NMON))
MON_PSS=$(($(sum_mem Pss "${MONS[@]}") / NMON))
BUSY_RSS=$(mem_kb "$DAEMON_PID" Rss)
BUSY_PSS=$(mem_kb "$DAEMON_PID" Pss)
ids=$("$DOCKER" ps -aq)
[ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null
sleep 0.5
AFTER_RSS=$(mem_kb "$DAEMON_PID" Rss)

CONMON_RSS=- CONMON_PSS=- NCONMON=0
if [ -n "$PODMAN_OK" ]; then
    log "memory: $N_PEER_CONTAINERS podman containers (conmon per container)"
    for ((i = 0; i < N_PEER_CONTAINERS; i++)); do pm $PM_RUN -d busybox sleep 1000 >/dev/null; done
    sleep 1
    mapfile -t CONMONS < <(for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^[^ ]*conmon .*$PODMAN_DIR" && echo "${p#/proc/}"; done)
    NCONMON=${#CONMONS[@]}
    if [ "$NCONMON" -gt 0 ]; then
        CONMON_RSS=$(($(sum_mem Rss "${CONMONS[@]}") / NCONMON))
        CONMON_PSS=$(($(sum_mem Pss "${CONMONS[@]}") / NCONMON))
    fi
    pm rm -af -t 0 >/dev/null 2>&1 || true
fi

# --- report --------------------------------------------------------------------------------
ratio() { # berth peer
    [ "$1" = - ] || [ "$2" = - ] && { echo -; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
}
peer_rm=$(res podman_run_rm); peer_d=$(res podman_run_d_rm); peer=podman
if [ -n "$DOCKERD_OK" ]; then peer_rm=$(res dockerd_run_rm); peer_d=$(res dockerd_run_d_rm); peer=dockerd; fi
[ -n "$PODMAN_OK$DOCKERD_OK" ] || peer="(none)"

echo
echo "## Engine core — $(date -u +%Y-%m-%dT%H:%MZ), median of $RUNS runs ($WARMUP warm-up), ms"
echo
echo "| command | berth | $peer | berth/$peer | target |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| berth run --rm --network none busybox true | $(res berth_run_rm) | $peer_rm | $(ratio "$(res berth_run_rm)" "$peer_rm") | ≤ 10 |"
echo "| docker run --rm --network none busybox true | $(res docker_run_rm) | $peer_rm | $(ratio "$(res docker_run_rm)" "$peer_rm") | ≤ 10 |"
echo "| berth run -d … sleep + rm -f | $(res berth_run_d_rm) | $peer_d | $(ratio "$(res berth_run_d_rm)" "$peer_d") | |"
echo "| docker run -d … sleep + rm -f | $(res docker_run_d_rm) | $peer_d | $(ratio "$(res docker_run_d_rm)" "$peer_d") | |"
if [ -n "$PODMAN_OK" ] && [ -n "$DOCKERD_OK" ]; then
    echo "| (podman) run --rm / run -d + rm -f | | $(res podman_run_rm) / $(res podman_run_d_rm) | | |"
fi
for rt in "${OCI_RUNTIMES[@]}"; do
    echo "| $(basename "${CLIENT%% *}") run --rm --network none --runtime $rt busybox true | $(res "run_rm_$rt") | $peer_rm | $(ratio "$(res "run_rm_$rt")" "$peer_rm") | |"
done
echo
echo "| memory (kB) | Rss | Pss | target |"
echo "| --- | ---: | ---: | ---: |"
echo "| berth daemon, idle (image imported, one run done) | $IDLE_RSS | $IDLE_PSS | ≤ 10240 |"
echo "| berth daemon, idle after the timing runs (~250 containers) | $WORKED_RSS | $WORKED_PSS | |"
echo "| berth daemon, $N_CONTAINERS containers running | $BUSY_RSS | $BUSY_PSS | |"
echo "| berth daemon, after removing them | $AFTER_RSS | | |"
echo "| berth monitor, per container (mean of $NMON) | $MON_RSS | $MON_PSS | ≤ 1024 |"
[ -n "$PODMAN_OK" ] && echo "| podman conmon, per container (mean of $NCONMON) | $CONMON_RSS | $CONMON_PSS | |"
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r)"
[ -n "$PODMAN_OK" ] && echo "peer: $(podman --version)$(command -v runc >/dev/null && echo ", runtime $(runc --version | head -1)")"
for rt in "${OCI_RUNTIMES[@]}"; do echo "runtime: $("$rt" --version | head -1)"; done
echo "timing: $(command -v hyperfine >/dev/null && hyperfine --version || echo 'bash loop, date +%s%N')"
