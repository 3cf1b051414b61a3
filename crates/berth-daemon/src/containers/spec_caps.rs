//! Capabilities and `--privileged` on top of Docker's defaults.

use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use berth_api::ApiError;
use oci_spec::runtime::{Capability, Spec};
use std::collections::HashSet;
use std::str::FromStr;

/// Every capability this kernel knows (bounded by what the daemon itself holds, so a
/// `--privileged` container never gets more than the daemon has).
fn daemon_caps() -> HashSet<Capability> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    all_caps()
        .into_iter()
        .filter(|(bit, _)| bnd & (1u64 << bit) != 0)
        .map(|(_, c)| c)
        .collect()
}

fn all_caps() -> Vec<(u32, Capability)> {
    use Capability::*;
    vec![
        (0, Chown),
        (1, DacOverride),
        (2, DacReadSearch),
        (3, Fowner),
        (4, Fsetid),
        (5, Kill),
        (6, Setgid),
        (7, Setuid),
        (8, Setpcap),
        (9, LinuxImmutable),
        (10, NetBindService),
        (11, NetBroadcast),
        (12, NetAdmin),
        (13, NetRaw),
        (14, IpcLock),
        (15, IpcOwner),
        (16, SysModule),
        (17, SysRawio),
        (18, SysChroot),
        (19, SysPtrace),
        (20, SysPacct),
        (21, SysAdmin),
        (22, SysBoot),
        (23, SysNice),
        (24, SysResource),
        (25, SysTime),
        (26, SysTtyConfig),
        (27, Mknod),
        (28, Lease),
        (29, AuditWrite),
        (30, AuditControl),
        (31, Setfcap),
        (32, MacOverride),
        (33, MacAdmin),
        (34, Syslog),
        (35, WakeAlarm),
        (36, BlockSuspend),
        (37, AuditRead),
        (38, Perfmon),
        (39, Bpf),
        (40, CheckpointRestore),
    ]
}

/// Parses `NET_ADMIN`, `CAP_NET_ADMIN` or `net_admin` as Docker accepts them.
pub fn parse_cap(name: &str) -> Result<Capability, ApiError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    // oci-spec's `FromStr` knows the names without the `CAP_` prefix only.
    Capability::from_str(bare)
        .map_err(|_| ApiError::invalid(format!("unknown capability: \"CAP_{bare}\"")))
}

/// Sets the process capability sets, masks and devices for the container's flags.
pub fn apply(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let defaults: HashSet<Capability> = berth_runtime::defaults::DEFAULT_CAPS
        .iter()
        .filter_map(|c| parse_cap(c).ok())
        .collect();
    let available = daemon_caps();
    let set: HashSet<Capability> = if hc.privileged {
        available.clone()
    } else {
        let mut set = defaults;
        let adds = hc.cap_add.iter().flatten();
        let drops: Vec<&String> = hc.cap_drop.iter().flatten().collect();
        for d in &drops {
            if d.eq_ignore_ascii_case("all") {
                set.clear();
            }
        }
        for a in adds {
            if a.eq_ignore_ascii_case("all") {
                set.extend(available.iter().cloned());
            } else {
                set.insert(parse_cap(a)?);
            }
        }
        for d in &drops {
            if !d.eq_ignore_ascii_case("all") {
                set.remove(&parse_cap(d)?);
            }
        }
        set.retain(|c| available.contains(c));
        set
    };
    let mut process = spec.process().clone().unwrap_or_default();
    let mut caps = process.capabilities().clone().unwrap_or_default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(Some(HashSet::new()));
    caps.set_ambient(Some(HashSet::new()));
    process.set_capabilities(Some(caps));
    spec.set_process(Some(process));

    if hc.privileged {
        let mut linux = spec
            .linux()
            .clone()
            .ok_or_else(|| DaemonError::Other("spec without linux".into()))?;
        linux.set_masked_paths(Some(vec![]));
        linux.set_readonly_paths(Some(vec![]));
        spec.set_linux(Some(linux));
        if let Some(mounts) = spec.mounts_mut() {
            for m in mounts.iter_mut() {
                if m.typ().as_deref() == Some("sysfs") || m.typ().as_deref() == Some("cgroup") {
                    let opts: Vec<String> = m
                        .options()
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|o| o != "ro")
                        .collect();
                    m.set_options(Some(opts));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cap_accepts_docker_spellings() {
        for name in ["NET_ADMIN", "CAP_NET_ADMIN", "net_admin", "cap_net_admin"] {
            assert_eq!(parse_cap(name).unwrap(), Capability::NetAdmin, "{name}");
        }
        let err = parse_cap("NOPE").unwrap_err();
        assert!(err.to_string().contains("CAP_NOPE"), "{err}");
    }

    #[test]
    fn default_caps_all_parse() {
        for c in berth_runtime::defaults::DEFAULT_CAPS {
            parse_cap(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    #[test]
    fn apply_gives_docker_defaults_plus_adds() {
        let mut spec = Spec::default();
        let hc = HostConfig {
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["CAP_CHOWN".into()]),
            ..Default::default()
        };
        apply(&mut spec, &hc).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let eff = caps.effective().clone().unwrap();
        let avail = daemon_caps();
        let mut want: HashSet<Capability> = berth_runtime::defaults::DEFAULT_CAPS
            .iter()
            .map(|c| parse_cap(c).unwrap())
            .collect();
        want.insert(Capability::NetAdmin);
        want.remove(&Capability::Chown);
        want.retain(|c| avail.contains(c));
        assert_eq!(eff, want);
        assert!(!want.is_empty());
    }
}
