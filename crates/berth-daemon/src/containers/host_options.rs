//! `--ulimit`, `--tmpfs` and `--sysctl`: validated at create, mapped into the OCI spec.

use berth_api::container::HostConfig;
use berth_api::ApiError;
use oci_spec::runtime::{Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType};

const ULIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn ulimits(hc: &HostConfig) -> Result<Vec<berth_api::container::Ulimit>, ApiError> {
    Ok(hc.resources.ulimits.clone().unwrap_or_default())
}

/// The daemon's own hard limit for a resource: a container never gets more (raising it
/// needs CAP_SYS_RESOURCE, which berth's host may lack and containers must not use).
fn own_hard_limit(name: &str) -> Option<u64> {
    let res = match name {
        "nofile" => nix::sys::resource::Resource::RLIMIT_NOFILE,
        "nproc" => nix::sys::resource::Resource::RLIMIT_NPROC,
        "core" => nix::sys::resource::Resource::RLIMIT_CORE,
        "memlock" => nix::sys::resource::Resource::RLIMIT_MEMLOCK,
        "stack" => nix::sys::resource::Resource::RLIMIT_STACK,
        "msgqueue" => nix::sys::resource::Resource::RLIMIT_MSGQUEUE,
        "sigpending" => nix::sys::resource::Resource::RLIMIT_SIGPENDING,
        "rtprio" => nix::sys::resource::Resource::RLIMIT_RTPRIO,
        "nice" => nix::sys::resource::Resource::RLIMIT_NICE,
        _ => return None,
    };
    nix::sys::resource::getrlimit(res)
        .ok()
        .map(|(_, hard)| hard)
}

/// Namespaced sysctls a container may set (Docker's list; `net.*` only with its own
/// network namespace).
fn sysctl_allowed(key: &str, host_network: bool, host_ipc: bool) -> Result<(), ApiError> {
    if berth_runtime::defaults::IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        // With `--ipc host` the write would land on the host's IPC namespace (runc's text).
        if host_ipc {
            return Err(ApiError::invalid(format!(
                "sysctl {key:?} is not allowed in the hosts ipc namespace"
            )));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_network {
            return Err(ApiError::invalid(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )));
        }
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    )))
}

/// Refuses what Docker refuses, with its texts, before anything is created.
pub fn validate(hc: &HostConfig) -> Result<(), ApiError> {
    for u in ulimits(hc)? {
        if !ULIMIT_NAMES.contains(&u.name.as_str()) {
            return Err(ApiError::invalid(format!(
                "invalid ulimit type: {}",
                u.name
            )));
        }
        if u.soft > u.hard {
            return Err(ApiError::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
        if let Some(max) = own_hard_limit(&u.name) {
            if u.hard >= 0 && (u.hard as u64) > max {
                return Err(ApiError::invalid(format!(
                    "ulimit {}: hard limit {} is above the daemon's own ({max}); a container cannot be given more than the daemon has",
                    u.name, u.hard
                )));
            }
        }
    }
    for path in hc.tmpfs.iter().flatten().map(|(p, _)| p) {
        if !path.starts_with('/') {
            return Err(ApiError::invalid(format!(
                "invalid mount path: '{path}' mount path must be absolute"
            )));
        }
        if path == "/" {
            return Err(ApiError::invalid(
                "invalid specification: destination can't be '/'",
            ));
        }
    }
    for key in hc.sysctls.iter().flatten().map(|(k, _)| k) {
        sysctl_allowed(key, hc.network_mode == "host", hc.ipc_mode == "host")?;
    }
    Ok(())
}

/// `--ulimit` values as OCI rlimits (they replace the defaults of the same type).
pub fn rlimits(hc: &HostConfig, defaults: Vec<PosixRlimit>) -> Result<Vec<PosixRlimit>, ApiError> {
    let mut out = defaults;
    for u in ulimits(hc)? {
        let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(format!(
            "RLIMIT_{}",
            u.name.to_ascii_uppercase()
        )))
        .map_err(|_| ApiError::invalid(format!("invalid ulimit type: {}", u.name)))?;
        out.retain(|r| r.typ() != typ);
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(as_u64(u.soft))
                .hard(as_u64(u.hard))
                .build()
                .map_err(|e| ApiError::invalid(format!("ulimit {}: {e}", u.name)))?,
        );
    }
    Ok(out)
}

/// `--tmpfs /path[:opts]` mounts, with Docker's defaults (`noexec,nosuid,nodev`).
pub fn tmpfs_mounts(hc: &HostConfig) -> Result<Vec<Mount>, ApiError> {
    let mut out = Vec::new();
    for (path, opts) in hc.tmpfs.iter().flatten() {
        let mut options: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
        for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let undo = match o {
                "exec" => Some("noexec"),
                "suid" => Some("nosuid"),
                "dev" => Some("nodev"),
                _ => None,
            };
            match undo {
                Some(u) => options.retain(|x| x != u),
                None => options.push(o.to_string()),
            }
        }
        out.push(
            MountBuilder::default()
                .destination(path.as_str())
                .typ("tmpfs")
                .source("tmpfs")
                .options(options)
                .build()
                .map_err(|e| ApiError::invalid(format!("tmpfs {path}: {e}")))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(json: &str) -> HostConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validates_like_docker() {
        assert!(validate(&hc(
            r#"{"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}]}"#
        ))
        .is_ok());
        assert!(validate(&hc(r#"{"Ulimits":[{"Name":"bogus","Soft":1,"Hard":1}]}"#)).is_err());
        assert!(validate(&hc(
            r#"{"Ulimits":[{"Name":"nofile","Soft":300,"Hard":200}]}"#
        ))
        .is_err());
        assert!(validate(&hc(
            r#"{"Ulimits":[{"Name":"nofile","Soft":1,"Hard":999999999}]}"#
        ))
        .is_err());
        assert!(validate(&hc(r#"{"Sysctls":{"kernel.shmmax":"1"}}"#)).is_ok());
        assert!(validate(&hc(r#"{"Sysctls":{"net.ipv4.ip_forward":"1"}}"#)).is_ok());
        assert!(validate(&hc(
            r#"{"Sysctls":{"net.ipv4.ip_forward":"1"},"NetworkMode":"host"}"#
        ))
        .is_err());
        assert!(validate(&hc(r#"{"Sysctls":{"vm.swappiness":"1"}}"#)).is_err());
        assert!(validate(&hc(r#"{"Tmpfs":{"rel":""}}"#)).is_err());
    }

    #[test]
    fn maps_into_the_spec() {
        let h = hc(
            r#"{"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],"Tmpfs":{"/run":"size=1m,exec"}}"#,
        );
        let r = rlimits(&h, vec![]).unwrap();
        assert_eq!(
            (r[0].typ(), r[0].soft(), r[0].hard()),
            (PosixRlimitType::RlimitNofile, 100, 200)
        );
        let m = tmpfs_mounts(&h).unwrap();
        assert_eq!(
            m[0].options().clone().unwrap(),
            vec!["nosuid", "nodev", "size=1m"]
        );
    }
}
