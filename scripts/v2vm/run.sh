#!/usr/bin/env bash
# Boots a small KVM guest with a pure cgroup v2 kernel (Debian's, unpacked, never installed
# on this host) and runs berth's cgroup v2 checks in it (scripts/v2vm/checks.sh).
#
#   scripts/v2vm/run.sh [path/to/berth]      (default: target/debug/berth)
#
# Prints the guest's serial console; the checks print `PASS name` / `FAIL name: detail` and
# the guest ends with `V2VM-RESULT ok|fail`. Exit status: 0 ok, 1 fail, 77 skipped (a line
# `V2VM-SKIP reason` says why: no /dev/kvm, no qemu-system-x86_64, no kernel package).
#
# Environment: V2VM_CACHE (default /var/cache/berth-v2vm, else target/v2vm) keeps the kernel
# package between runs; V2VM_TIMEOUT (seconds, default 180) bounds the guest; V2VM_MEM (MiB,
# default 2048); V2VM_ACCEL auto|kvm|tcg (default auto: KVM, falling back to TCG where KVM
# guests hang); V2VM_KEEP=1 keeps the staging directory. See docs/cgroup-v2-vm.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
berth="${1:-$repo/target/debug/berth}"
timeout_s="${V2VM_TIMEOUT:-180}"
mem="${V2VM_MEM:-2048}"

skip() {
    echo "V2VM-SKIP $*"
    exit 77
}
log() { echo "v2vm: $*" >&2; }

[ -x "$berth" ] || { echo "v2vm: no berth binary at $berth" >&2; exit 2; }
if [ "${V2VM_ACCEL:-auto}" != tcg ]; then
    [ -e /dev/kvm ] || skip "no /dev/kvm (V2VM_ACCEL=tcg runs without it, slowly)"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not usable by $(id -un)"
fi
command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
[ -x /usr/local/bin/docker ] || skip "no docker CLI at /usr/local/bin/docker"
busybox="$(command -v busybox || true)"
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || skip "no busybox"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || [ ! -x /usr/bin/file ] ||
    skip "$busybox is not static (apt-get install busybox-static)"

cache="${V2VM_CACHE:-}"
if [ -z "$cache" ]; then
    if mkdir -p /var/cache/berth-v2vm 2>/dev/null && [ -w /var/cache/berth-v2vm ]; then
        cache=/var/cache/berth-v2vm
    else
        cache="$repo/target/v2vm"
    fi
fi
mkdir -p "$cache"

# --- kernel: Debian's current linux-image-*-amd64, downloaded once and unpacked ----------
kver=""
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1 || true)"
if [ -n "$pkg" ]; then
    kver="${pkg#linux-image-}"
    if [ ! -f "$cache/kernel-$kver/boot/vmlinuz-$kver" ]; then
        log "fetching $pkg"
        (
            cd "$cache"
            rm -f "$pkg"_*.deb
            apt-get download "$pkg" >/dev/null 2>&1 || true
        )
        deb="$(ls "$cache/$pkg"_*.deb 2>/dev/null | head -1 || true)"
        if [ -n "$deb" ]; then
            rm -rf "$cache/kernel-$kver.tmp"
            dpkg-deb -x "$deb" "$cache/kernel-$kver.tmp"
            rm -rf "$cache/kernel-$kver"
            mv "$cache/kernel-$kver.tmp" "$cache/kernel-$kver"
            rm -f "$deb"
        fi
    fi
fi
if [ -z "$kver" ] || [ ! -f "$cache/kernel-$kver/boot/vmlinuz-$kver" ]; then
    # Offline: fall back to any kernel unpacked earlier.
    k="$(ls -d "$cache"/kernel-*/boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)"
    [ -n "$k" ] || skip "no kernel package could be fetched (apt-get download ${pkg:-linux-image-<ver>-amd64})"
    kver="${k##*/vmlinuz-}"
fi
kdir="$cache/kernel-$kver"
vmlinuz="$kdir/boot/vmlinuz-$kver"
mods="$kdir/lib/modules/$kver/kernel"
log "kernel $kver"

# --- initramfs -----------------------------------------------------------------------------
stage="$(mktemp -d "$cache/stage.XXXXXX")"
cleanup() { [ "${V2VM_KEEP:-0}" = 1 ] || rm -rf "$stage"; }
trap cleanup EXIT
root="$stage/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib/modules,etc,proc,sys,dev,tmp,run,root,newroot,v2vm}
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
# The berth binary under test, without its debug info (a debug build is ~200 MB).
if command -v objcopy >/dev/null; then
    objcopy --strip-debug "$berth" "$root/usr/bin/berth"
else
    cp "$berth" "$root/usr/bin/berth"
fi
copy_libs() {
    { ldd "$1" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        [ -e "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
copy_libs "$berth"
cp /usr/local/bin/docker "$root/usr/local/bin/docker"
copy_libs /usr/local/bin/docker
for m in fs/overlayfs/overlay.ko fs/fuse/fuse.ko; do
    if [ -f "$mods/$m" ]; then cp "$mods/$m" "$root/lib/modules/"; fi
done
# Loaded by the checks, after the io.weight check.
mkdir -p "$root/lib/modules/later"
if [ -f "$mods/block/bfq.ko" ]; then cp "$mods/block/bfq.ko" "$root/lib/modules/later/"; fi
cp "$here/init" "$root/init"
cp "$here/checks.sh" "$root/v2vm/checks.sh"
chmod +x "$root/init" "$root/v2vm/checks.sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
echo v2vm >"$root/etc/hostname"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) >"$stage/initrd.cpio"

# --- boot ----------------------------------------------------------------------------------
# KVM when it works; some nested hosts expose a /dev/kvm whose guests hang in early boot, so
# `auto` gives KVM a few seconds to reach init, remembers a hang, and falls back to TCG.
out="$stage/console.log"
boot() { # boot ACCEL TIMEOUT: runs the guest in the background, serial console into $out
    local a
    case "$1" in
    kvm) a=(-enable-kvm -cpu host) ;;
    *) a=(-accel tcg,thread=multi -cpu max) ;;
    esac
    : >"$out"
    timeout -k 5 "$2" qemu-system-x86_64 "${a[@]}" -m "$mem" -smp 2 \
        -kernel "$vmlinuz" -initrd "$stage/initrd.cpio" \
        -append "console=ttyS0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 quiet loglevel=3 panic=-1 rdinit=/init" \
        -display none -no-reboot -nic none -monitor none -serial "file:$out" </dev/null >"$stage/qemu.err" 2>&1 &
    qpid=$!
}
accel="${V2VM_ACCEL:-auto}"
kvm_hang="$cache/kvm-hangs-$(uname -r)"
if [ "$accel" = auto ]; then
    if [ -e "$kvm_hang" ] || [ ! -e /dev/kvm ]; then
        accel=tcg
    elif [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
        # PVM (paravirtualised nested KVM) only runs guests built for it, not Debian's kernel.
        accel=tcg
    else
        accel=kvm-probe
    fi
fi
log "booting ($(du -m "$stage/initrd.cpio" | cut -f1) MiB initramfs, ${accel%-probe}, timeout ${timeout_s}s)"
start=$(date +%s)
if [ "$accel" = kvm-probe ]; then
    boot kvm "$timeout_s"
    for _ in $(seq 150); do
        grep -q '^V2VM-BOOT' "$out" && break
        kill -0 "$qpid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^V2VM-BOOT' "$out"; then
        kill "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
        log "KVM guest did not reach init in 15s; using TCG from now on (rm $kvm_hang to retry)"
        touch "$kvm_hang"
        accel=tcg
        start=$(date +%s)
        boot tcg "$timeout_s"
    fi
else
    boot "$accel" "$timeout_s"
fi
tail -n +1 -f --pid="$qpid" "$out" | tr -d '\r'
set +e
wait "$qpid"
qrc=$?
set -e
cat "$stage/qemu.err" >&2
log "guest ran $(($(date +%s) - start))s with ${accel%-probe} (qemu exit $qrc)"
[ "${V2VM_KEEP:-0}" = 1 ] && log "kept $stage"
if grep -q '^V2VM-RESULT ok' "$out"; then
    exit 0
fi
grep -q '^V2VM-RESULT' "$out" || echo "v2vm: the guest printed no V2VM-RESULT line" >&2
exit 1
