//! Docker's default container spec (moby `oci/defaults.go`), the base the daemon edits.
//!
//! Keeping it here, next to the code that enforces it, means the runtime's tests and the
//! daemon agree on what "default" means.

use oci_spec::runtime::Spec;

/// Docker's default capability set (since Docker 25 only bounding/effective/permitted).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers (kernel info leaks and dangerous knobs).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only inside containers.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default open-files limit; clamped to the host's hard limit (see [`default_spec`]).
pub const DEFAULT_NOFILE: u64 = 1_048_576;

/// Character devices every container gets: (path, major, minor).
pub const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Returns Docker's default spec: standard mounts, namespaces (pid, ipc, uts, mount,
/// network, cgroup), default caps, masked/read-only paths, default devices and device
/// cgroup rules, and `RLIMIT_NOFILE` = min(1048576, this process's hard limit) because an
/// unprivileged-resource host cannot raise it further.
pub fn default_spec() -> Spec {
    let caps = serde_json::json!(DEFAULT_CAPS);
    let nofile = DEFAULT_NOFILE.min(current_nofile_hard());
    let devices: Vec<serde_json::Value> = DEFAULT_DEVICES
        .iter()
        .map(|(p, maj, min)| {
            serde_json::json!({"path": p, "type": "c", "major": maj, "minor": min,
                "fileMode": 0o666, "uid": 0, "gid": 0})
        })
        .collect();
    let allow = |t: &str, maj: Option<i64>, min: Option<i64>, acc: &str| {
        let mut v = serde_json::json!({"allow": true, "type": t, "access": acc});
        if let Some(m) = maj {
            v["major"] = m.into();
        }
        if let Some(m) = min {
            v["minor"] = m.into();
        }
        v
    };
    let dev_rules = vec![
        serde_json::json!({"allow": false, "access": "rwm"}),
        allow("c", None, None, "m"),
        allow("b", None, None, "m"),
        allow("c", Some(1), Some(3), "rwm"),
        allow("c", Some(1), Some(5), "rwm"),
        allow("c", Some(1), Some(7), "rwm"),
        allow("c", Some(1), Some(8), "rwm"),
        allow("c", Some(1), Some(9), "rwm"),
        allow("c", Some(5), Some(0), "rwm"),
        allow("c", Some(5), Some(1), "rwm"),
        allow("c", Some(5), Some(2), "rwm"),
        allow("c", Some(136), None, "rwm"),
    ];
    let v = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": false},
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": false
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "devices": devices,
            "resources": {"devices": dev_rules}
        }
    });
    serde_json::from_value(v).expect("default spec is valid")
}

fn current_nofile_hard() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, h)| h)
        .unwrap_or(DEFAULT_NOFILE)
}

/// Sysctls that belong to the IPC namespace (plus every `fs.mqueue.*`): a container may set
/// them only with an IPC namespace of its own (runc's rule).
pub const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceType;

    #[test]
    fn defaults_match_docker() {
        let s = default_spec();
        let p = s.process().as_ref().unwrap();
        let c = p.capabilities().as_ref().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            let set = set.as_ref().unwrap();
            assert_eq!(set.len(), 14);
        }
        assert!(c.inheritable().as_ref().is_none_or(|s| s.is_empty()));
        assert!(c.ambient().as_ref().is_none_or(|s| s.is_empty()));
        let mask = crate::caps::mask_of(c.effective().as_ref().unwrap());
        assert_eq!(mask, 0x00000000a80425fb);

        let mounts = s.mounts().as_ref().unwrap();
        let dests: Vec<_> = mounts
            .iter()
            .map(|m| m.destination().to_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let pts = &mounts[2];
        assert!(pts
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ptmxmode=0666".to_string()));

        let l = s.linux().as_ref().unwrap();
        let ns: Vec<_> = l
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        for t in [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Cgroup,
        ] {
            assert!(ns.contains(&t), "{t:?}");
        }
        assert_eq!(l.masked_paths().as_ref().unwrap().len(), 12);
        assert_eq!(l.readonly_paths().as_ref().unwrap().len(), 5);
        assert_eq!(l.devices().as_ref().unwrap().len(), 6);

        let rl = &p.rlimits().as_ref().unwrap()[0];
        assert!(rl.hard() <= current_nofile_hard());
        assert!(rl.hard() <= DEFAULT_NOFILE);
        // The spec survives a JSON round trip (it is what config.json holds).
        let j = serde_json::to_string(&s).unwrap();
        let back: Spec = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }
}
