#!/bin/sh
# berth's cgroup v2 checks, run by the guest's init (see run.sh) against a daemon on
# $DOCKER_HOST, with the unmodified docker CLI. Each check prints `PASS name` or
# `FAIL name: detail`; the exit status is the number of failures (0: all passed).
fails=0
pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    fails=$((fails + 1))
}
# expect NAME GOT WANT
expect() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
# The host cgroup directory of a running container.
cgdir() {
    pid=$(docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null)
    echo "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)"
}
cg() { cat "$(cgdir "$1")/$2" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
# run NAME ARGS...: a detached container (no network) that sleeps.
run() {
    n=$1
    shift
    if ! docker run -d --name "$n" --network none "$@" busybox sleep 1000 >/dev/null 2>/tmp/err; then
        echo "  (docker run $n: $(cat /tmp/err))"
    fi
}
# dr ARGS...: a foreground container's output (the CLI's WARNING lines left out: the
# create-warnings check looks at those).
dr() { docker run --rm --network none "$@" 2>&1 | grep -v '^WARNING: '; }

# --- cgroup namespace and placement ------------------------------------------------------
expect cgroupns "$(dr busybox cat /proc/self/cgroup)" "0::/"
# Docker warns about memory swappiness on v2 only when one was asked for (the CLI sends -1
# for "unset").
expect create-warnings "$(docker run --rm --network none busybox true 2>&1)" ""
run base
id=$(docker inspect -f '{{.Id}}' base)
pid=$(docker inspect -f '{{.State.Pid}}' base)
expect cgroup-path "$(cat /proc/$pid/cgroup 2>&1)" "0::/berth/$id"
ctl=$(cat "/sys/fs/cgroup/berth/$id/cgroup.controllers" 2>&1)
case " $ctl " in
*" cpu "*" memory "*" pids "*) pass controllers ;;
*) fail controllers "container cgroup has controllers '$ctl'" ;;
esac
expect exec-cgroupns "$(docker exec base cat /proc/self/cgroup 2>&1)" "0::/"
expect cgroup-mount-in-container "$(docker exec base sh -c 'grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3')" "cgroup2"

# --- memory ------------------------------------------------------------------------------
run mem -m 32m --memory-swap 64m --memory-reservation 16m
expect memory.max "$(cg mem memory.max)" 33554432
if [ -e "$(cgdir mem)/memory.swap.max" ]; then
    expect memory.swap.max "$(cg mem memory.swap.max)" 33554432
else
    fail memory.swap.max "the kernel has no memory.swap.max"
fi
expect memory.low "$(cg mem memory.low)" 16777216
run noswap -m 32m --memory-swap 32m
expect memory.swap.max-none "$(cg noswap memory.swap.max)" 0
run unlswap -m 32m --memory-swap -1
expect memory.swap.max-unlimited "$(cg unlswap memory.swap.max)" max
expect memory.max-in-container "$(docker exec mem cat /sys/fs/cgroup/memory.max 2>&1)" 33554432
expect inspect-memory "$(docker inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}' mem)" \
    "33554432 67108864 16777216"
usage=$(docker stats --no-stream --format '{{.MemUsage}}' mem 2>&1)
case "$usage" in
0B\ /* | "" | *rror*) fail stats-memory "'$usage'" ;;
*" / 32MiB") pass stats-memory ;;
*) fail stats-memory "'$usage' (want a usage / 32MiB)" ;;
esac

# OOM: `tail` buffers /dev/zero (no newline) until the limit kills it.
docker run --name oom --network none -m 16m --memory-swap 16m busybox tail /dev/zero >/dev/null 2>&1
code=$?
expect oom-exit-code "$code" 137
expect oom-killed "$(docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom 2>&1)" "true 137"
docker rm oom >/dev/null 2>&1

# --- cpu ---------------------------------------------------------------------------------
run cpus --cpus 0.5
expect cpu.max--cpus "$(cg cpus cpu.max)" "50000 100000"
run quota --cpu-quota 25000 --cpu-period 50000
expect cpu.max--cpu-quota "$(cg quota cpu.max)" "25000 50000"
run shares --cpu-shares 512
# runc: weight = 1 + (shares - 2) * 9999 / 262142
expect cpu.weight "$(cg shares cpu.weight)" 20
run cpuset --cpuset-cpus 1
expect cpuset.cpus "$(cg cpuset cpuset.cpus)" 1
expect cpuset-in-container "$(docker exec cpuset grep Cpus_allowed_list /proc/self/status | tr -d '\t' 2>&1)" \
    "Cpus_allowed_list:1"

# --- pids --------------------------------------------------------------------------------
run pids --pids-limit 10
expect pids.max "$(cg pids pids.max)" 10
# A fork bomb of 50 sleepers: forks past the limit fail, the cgroup stays at 10.
docker exec pids sh -c 'for i in $(seq 50); do sleep 300 & done 2>/dev/null; exit 0' >/dev/null 2>&1
cur=$(cg pids pids.current)
ev=$(cg pids pids.events)
if [ "$cur" -le 10 ] 2>/dev/null && [ "${ev#max }" -gt 0 ] 2>/dev/null; then
    pass pids-fork-bomb
else
    fail pids-fork-bomb "pids.current=$cur pids.events='$ev'"
fi

# --- io ----------------------------------------------------------------------------------
# Without BFQ: io.weight (iocost), scaled like runc: 1 + (weight - 10) * 9999 / 990.
run blkio --blkio-weight 300
if [ -e "$(cgdir blkio)/io.bfq.weight" ]; then
    fail io.weight "BFQ is already loaded"
else
    expect io.weight "$(cg blkio io.weight)" "default 2930"
fi
# With BFQ loaded, its own file wins (unscaled), as in runc.
if insmod /lib/modules/later/bfq.ko 2>/tmp/err || grep -q '^bfq ' /proc/modules; then
    run bfq --blkio-weight 300
    expect io.bfq.weight "$(cg bfq io.bfq.weight)" "default 300"
else
    fail io.bfq.weight "insmod bfq: $(cat /tmp/err)"
fi

# --- docker update -----------------------------------------------------------------------
run upd -m 32m --memory-swap 64m --cpus 0.5 --pids-limit 20
out=$(docker update -m 64m --memory-swap 128m --cpus 1.5 --pids-limit 30 --cpu-shares 1024 upd 2>&1) ||
    echo "  (docker update: $out)"
expect update-memory.max "$(cg upd memory.max)" 67108864
expect update-memory.swap.max "$(cg upd memory.swap.max)" 67108864
expect update-cpu.max "$(cg upd cpu.max)" "150000 100000"
expect update-cpu.weight "$(cg upd cpu.weight)" 39
expect update-pids.max "$(cg upd pids.max)" 30
expect update-inspect "$(docker inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}' upd)" \
    "67108864 1500000000 30"

# --- devices (BPF program) ---------------------------------------------------------------
expect dev-null-rw "$(dr busybox sh -c 'echo hi >/dev/null && head -c 3 /dev/zero | wc -c')" 3
expect dev-mknod-denied "$(dr busybox sh -c 'mknod /tmp/mem c 1 1 && (cat /tmp/mem >/dev/null) 2>&1')" \
    "cat: can't open '/tmp/mem': Operation not permitted"
if [ -e /dev/fuse ]; then
    expect dev-fuse-denied "$(dr busybox sh -c 'mknod /tmp/f c 10 229 && (exec 3<>/tmp/f) 2>&1 && echo opened')" \
        "sh: can't create /tmp/f: Operation not permitted"
    expect dev-cgroup-rule "$(dr --device-cgroup-rule 'c 10:229 rwm' busybox sh -c 'mknod /tmp/f c 10 229 && (exec 3<>/tmp/f) 2>&1 && echo opened')" \
        opened
    expect dev-device "$(dr --device /dev/fuse busybox sh -c '(exec 3<>/dev/fuse) 2>&1 && echo opened')" opened
    expect dev-device-ro "$(dr --device /dev/fuse:/dev/fuse:r busybox sh -c '(exec 3</dev/fuse) && (exec 3<>/dev/fuse) 2>&1')" \
        "sh: can't create /dev/fuse: Operation not permitted"
else
    fail dev-fuse "the guest has no /dev/fuse"
fi

# --- top, pause ----------------------------------------------------------------------------
top=$(docker top base 2>&1)
case "$top" in
*"sleep 1000"*) pass top ;;
*) fail top "'$top'" ;;
esac
docker pause base >/dev/null 2>&1
st=$(docker inspect -f '{{.State.Status}}' base)
fr=$(grep frozen "$(cgdir base)/cgroup.events")
docker unpause base >/dev/null 2>&1
expect pause "$st $fr $(docker inspect -f '{{.State.Status}}' base)" "paused frozen 1 running"

# --- cleanup: every container's cgroup goes away ------------------------------------------
docker rm -f $(docker ps -aq) >/dev/null 2>&1
left=$(ls -d /sys/fs/cgroup/berth/*/ 2>/dev/null | wc -l)
expect cgroups-removed "$left" 0
exit $fails
