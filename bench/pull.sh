#!/usr/bin/env bash
# Pull and push benchmark (issue 9): images from a real registry on 127.0.0.1 (Debian's
# docker-registry, distribution 2.8), pulled by berth, by a Docker engine on the same host
# (Debian's docker.io, when `docker -H unix:///var/run/docker.sock info` answers) and
# copied by skopeo (registry → local dir, the client floor); then the 200 MB image pushed
# by each to a second registry that starts empty for every run. Prints markdown tables of
# medians and the ratios against berth.
#
#   bench/pull.sh              build release, start a private daemon and registry, measure
#   RUNS=7 bench/pull.sh
#   NO_BUILD=1 bench/pull.sh   use the last release build as it is
#
# Images: one layer of 200 MB of random data (gzip cannot shrink it, as for most real
# layers, whose size is what a pull moves), and 20 layers of 1 MB each. Every run starts
# from an image that is not there (rmi + prune of the layer) and ends when the CLI returns.
set -euo pipefail

RUNS=${RUNS:-5}
DOCKER=${DOCKER:-docker}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/bpl$$}
SOCK=$DIR/d.sock
BERTH=$DIR/berth
export DOCKER_CONFIG=$DIR/cfg
export DOCKER_CLI_HINTS=false
unset DOCKER_CONTEXT DOCKER_API_VERSION BERTH_HOST DOCKER_HOST || true

[ "$(id -u)" = 0 ] || { echo "bench/pull.sh: needs root" >&2; exit 1; }
command -v docker-registry >/dev/null && command -v skopeo >/dev/null ||
    { echo "bench/pull.sh: needs docker-registry and skopeo (apt-get install docker-registry skopeo)" >&2; exit 1; }
DAEMON_PID= REG_PID=
log() { printf '== %s\n' "$*" >&2; }

cleanup() {
    set +e
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
    [ -f "$DIR/preg.pid" ] && kill "$(cat "$DIR/preg.pid")" 2>/dev/null
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID"
        for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    if [ -n "${PEER:-}" ]; then
        for i in big many; do "$DOCKER" -H "$PEER" rmi -f "$REG/bench/$i:1" >/dev/null 2>&1; done
        "$DOCKER" -H "$PEER" rmi -f "$PREG/bench/big:1" >/dev/null 2>&1
    fi
    awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m"; done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR/cfg" "$DIR/reg"
echo '{}' >"$DIR/cfg/config.json"
if [ -z "${NO_BUILD:-}" ]; then
    log "scripts/build-release.sh"
    "$REPO/scripts/build-release.sh" >/dev/null
fi
cp "$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release/berth" "$BERTH"
B() { "$BERTH" -H "unix://$SOCK" "$@"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$DIR/reg/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $DIR/reg/storage}, delete: {enabled: true}}
http: {addr: $REG}
YML
docker-registry serve "$DIR/reg/config.yml" >"$DIR/reg/log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

log "starting daemon"
"$BERTH" daemon --data-root "$DIR/data" --exec-root "$DIR/x" -H "unix://$SOCK" \
    --pidfile "$DIR/berth.pid" --bridge none >"$DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do B version >/dev/null 2>&1 && break; sleep 0.05; done

log "making the images and pushing them with skopeo"
mkdir -p "$DIR/img/big" "$DIR/img/many"
head -c 200000000 /dev/urandom >"$DIR/img/big/data"
tar -C "$DIR/img/big" -cf "$DIR/big.tar" .
B import "$DIR/big.tar" bench/big:1 >/dev/null
B save -o "$DIR/big-archive.tar" bench/big:1
skopeo copy -q --dest-tls-verify=false "docker-archive:$DIR/big-archive.tar" "docker://$REG/bench/big:1"
# 20 layers of 1 MB: an OCI layout written here, one random file per layer.
python3 - "$DIR/many-oci" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return "sha256:" + h, len(b)
layers, diffs = [], []
for i in range(20):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = os.urandom(1 << 20)
        info = tarfile.TarInfo(f"layer{i}.bin"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    diffs.append("sha256:" + hashlib.sha256(plain).hexdigest())
    d, n = put(gzip.compress(plain, 1))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd, cn = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
    "layers": layers}).encode()
md, mn = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
skopeo copy -q --dest-tls-verify=false "oci:$DIR/many-oci:1" "docker://$REG/bench/many:1"
B rmi bench/big:1 >/dev/null

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# measure NAME PREP CMD...: RUNS timings of CMD, each after PREP, median in ms.
measure() {
    local prep=$1; shift
    for _ in $(seq "$RUNS"); do
        eval "$prep" >/dev/null 2>&1 || true
        local t0; t0=$(now_ms)
        "$@" >/dev/null
        echo $(($(now_ms) - t0))
    done | median
}

declare -A R
for img in big many; do
    ref=$REG/bench/$img:1
    log "berth pull $img"
    R[berth_$img]=$(measure "B rmi $ref; B image prune -f" B pull "$ref")
    log "skopeo copy $img"
    R[skopeo_$img]=$(measure "rm -rf $DIR/sk" skopeo copy -q --src-tls-verify=false "docker://$ref" "dir:$DIR/sk")
done
PEER=
if "$DOCKER" -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    PEER=unix:///var/run/docker.sock
    PEER_VERSION=$("$DOCKER" -H "$PEER" version -f '{{.Server.Version}}')
    for img in big many; do
        ref=$REG/bench/$img:1
        log "docker $PEER_VERSION pull $img"
        R[docker_$img]=$(measure "$DOCKER -H $PEER rmi $ref" "$DOCKER" -H "$PEER" pull "$ref")
    done
fi

# Push: the pulled 200 MB image to a registry that starts empty each run (nothing to
# skip or mount). berth sends the gzip blob as it was pulled; an imported image (kept as
# files + tar-split) is gzipped on the way; Docker gzips every layer it pushes.
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PREG=127.0.0.1:$PPORT
# (measure runs it in a subshell: the registry's pid lives in a file.)
fresh_push_registry() {
    if [ -f "$DIR/preg.pid" ]; then
        local old; old=$(cat "$DIR/preg.pid")
        kill "$old" 2>/dev/null
        while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
    fi
    rm -rf "$DIR/preg"
    mkdir -p "$DIR/preg"
    printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' \
        "$DIR/preg/storage" "$PREG" >"$DIR/preg/config.yml"
    docker-registry serve "$DIR/preg/config.yml" >"$DIR/preg.log" 2>&1 &
    echo $! >"$DIR/preg.pid"
    for _ in $(seq 100); do curl -sf "http://$PREG/v2/" >/dev/null && break; sleep 0.1; done
}
B pull -q "$REG/bench/big:1" >/dev/null
B tag "$REG/bench/big:1" "$PREG/bench/big:1"
B import "$DIR/big.tar" "$PREG/bench/imported:1" >/dev/null
log "berth push"
R[berth_push]=$(measure fresh_push_registry B push "$PREG/bench/big:1")
R[berth_push_imported]=$(measure fresh_push_registry B push "$PREG/bench/imported:1")
log "skopeo copy to the registry"
skopeo copy -q --src-tls-verify=false "docker://$REG/bench/big:1" "dir:$DIR/sk-push" >/dev/null
R[skopeo_push]=$(measure fresh_push_registry skopeo copy -q --dest-tls-verify=false "dir:$DIR/sk-push" "docker://$PREG/bench/big:1")
if [ -n "$PEER" ]; then
    "$DOCKER" -H "$PEER" pull -q "$REG/bench/big:1" >/dev/null
    "$DOCKER" -H "$PEER" tag "$REG/bench/big:1" "$PREG/bench/big:1"
    log "docker $PEER_VERSION push"
    R[docker_push]=$(measure fresh_push_registry "$DOCKER" -H "$PEER" push "$PREG/bench/big:1")
fi

ratio() { [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f×", b / a }' || echo "-"; }
echo
echo "| pull from 127.0.0.1 (median of $RUNS, ms) | berth | docker ${PEER_VERSION:-(absent)} | skopeo copy | docker / berth | skopeo / berth |"
echo "|---|---|---|---|---|---|"
echo "| 1 layer, 200 MB random | ${R[berth_big]} | ${R[docker_big]:--} | ${R[skopeo_big]} | $(ratio "${R[berth_big]}" "${R[docker_big]:-}") | $(ratio "${R[berth_big]}" "${R[skopeo_big]}") |"
echo "| 20 layers of 1 MB | ${R[berth_many]} | ${R[docker_many]:--} | ${R[skopeo_many]} | $(ratio "${R[berth_many]}" "${R[docker_many]:-}") | $(ratio "${R[berth_many]}" "${R[skopeo_many]}") |"
echo
echo "| push to 127.0.0.1 (median of $RUNS, ms) | berth | docker ${PEER_VERSION:-(absent)} | skopeo copy (from a dir) | docker / berth | skopeo / berth |"
echo "|---|---|---|---|---|---|"
echo "| 1 layer, 200 MB random, as pulled | ${R[berth_push]} | ${R[docker_push]:--} | ${R[skopeo_push]} | $(ratio "${R[berth_push]}" "${R[docker_push]:-}") | $(ratio "${R[berth_push]}" "${R[skopeo_push]}") |"
echo "| 1 layer, 200 MB random, imported (gzipped on the way) | ${R[berth_push_imported]} | - | - | - | - |"
