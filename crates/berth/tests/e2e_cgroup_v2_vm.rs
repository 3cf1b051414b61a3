//! End-to-end: cgroup v2 on a real pure-v2 kernel. `scripts/v2vm/run.sh` boots a small
//! guest (KVM, or TCG where this host's KVM cannot boot one) with Debian's kernel, an
//! initramfs holding this build's berth binary, the docker CLI and busybox, and only cgroup2
//! mounted; the guest runs `scripts/v2vm/checks.sh`, which prints `PASS name` or
//! `FAIL name: detail` per check and `V2VM-RESULT ok|fail` at the end.
//!
//! Needs root and qemu-system-x86_64 (a failure under `./scripts/test.sh`, which installs
//! it); a counted skip, with the script's reason, when the host has no usable /dev/kvm or no
//! kernel package can be fetched (the script exits 77 then). See docs/cgroup-v2-vm.md.

use std::path::Path;
use std::process::Command;

/// Every check the guest must pass (`PASS <name>`).
const CHECKS: &[&str] = &[
    "cgroupns",
    "create-warnings",
    "cgroup-path",
    "controllers",
    "exec-cgroupns",
    "cgroup-mount-in-container",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.swap.max-none",
    "memory.swap.max-unlimited",
    "memory.max-in-container",
    "inspect-memory",
    "stats-memory",
    "oom-exit-code",
    "oom-killed",
    "cpu.max--cpus",
    "cpu.max--cpu-quota",
    "cpu.weight",
    "cpuset.cpus",
    "cpuset-in-container",
    "pids.max",
    "pids-fork-bomb",
    "io.weight",
    "io.bfq.weight",
    "update-memory.max",
    "update-memory.swap.max",
    "update-cpu.max",
    "update-cpu.weight",
    "update-pids.max",
    "update-inspect",
    "dev-null-rw",
    "dev-mknod-denied",
    "dev-fuse-denied",
    "dev-cgroup-rule",
    "dev-device",
    "dev-device-ro",
    "top",
    "pause",
    "cgroups-removed",
];

#[test]
fn cgroup_v2_in_a_vm() {
    if !berth_testkit::require_root()
        || !berth_testkit::require_program("qemu-system-x86_64", "qemu-system-x86")
    {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/v2vm/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .env(
            "V2VM_TIMEOUT",
            std::env::var("V2VM_TIMEOUT").unwrap_or_else(|_| "300".into()),
        )
        .output()
        .expect("run scripts/v2vm/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n--- stderr ---\n{stderr}");
    if out.status.code() == Some(77) {
        let why = stdout
            .lines()
            .find_map(|l| l.strip_prefix("V2VM-SKIP "))
            .unwrap_or("(no reason given)");
        berth_testkit::skip(why);
        return;
    }
    eprintln!("{all}");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    let fails: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FAIL "))
        .collect();
    assert!(fails.is_empty(), "failed checks:\n{}", fails.join("\n"));
    let missing: Vec<&str> = CHECKS
        .iter()
        .copied()
        .filter(|c| !lines.contains(&format!("PASS {c}").as_str()))
        .collect();
    assert!(missing.is_empty(), "checks that did not pass: {missing:?}");
    assert!(
        lines.contains(&"V2VM-RESULT ok"),
        "the guest did not report V2VM-RESULT ok"
    );
    assert!(out.status.success(), "run.sh exited with {}", out.status);
}
