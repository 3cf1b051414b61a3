//! `--device`, `--device-cgroup-rule` and `--privileged`'s host devices → OCI
//! `linux.devices` (nodes the runtime creates in the container's /dev) and
//! `linux.resources.devices` (the device cgroup's allow list), the way Docker builds them.

use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use berth_api::ApiError;
use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    Spec,
};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One `HostConfig.Devices` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    pub permissions: String,
}

/// The `HostConfig.Devices` array, with Docker's defaults filled in (container path =
/// host path, permissions = `rwm`).
pub fn mappings(hc: &HostConfig) -> Result<Vec<DeviceMapping>, ApiError> {
    let mut out = Vec::new();
    for d in hc.resources.devices.iter().flatten() {
        let host = d.path_on_host.clone();
        if host.is_empty() {
            return Err(ApiError::invalid(
                "invalid device mapping: PathOnHost is empty",
            ));
        }
        let mut container = d.path_in_container.clone();
        if container.is_empty() {
            container = host.clone();
        }
        let mut permissions = d.cgroup_permissions.clone();
        if permissions.is_empty() {
            permissions = "rwm".into();
        }
        out.push(DeviceMapping {
            host,
            container,
            permissions,
        });
    }
    Ok(out)
}

/// Docker's `isValidDeviceMode`: a non-empty subset of `rwm`, each letter at most once.
fn valid_mode(mode: &str) -> bool {
    let mut seen = String::new();
    for c in mode.chars() {
        if !"rwm".contains(c) || seen.contains(c) {
            return false;
        }
        seen.push(c);
    }
    !mode.is_empty()
}

/// Parses a `--device-cgroup-rule` (`c 1:3 rwm`, `a *:* rwm`, `b 8:* r`) like Docker's
/// `^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`.
pub fn parse_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, ApiError> {
    let bad = || ApiError::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split(' ').collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "c" => LinuxDeviceType::C,
        "b" => LinuxDeviceType::B,
        _ => return Err(bad()),
    };
    let (maj, min) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>, ApiError> {
        if s == "*" {
            Ok(None)
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map(Some).map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (major, minor) = (num(maj)?, num(min)?);
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access.to_string());
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(|e| ApiError::invalid(e.to_string()))
}

/// Create-time checks: device modes, container paths, rule syntax, and that rules can be
/// enforced at all (cgroup v2 needs a BPF device program berth does not load yet).
pub fn validate(hc: &HostConfig) -> Result<(), ApiError> {
    for m in mappings(hc)? {
        if !valid_mode(&m.permissions) {
            return Err(ApiError::invalid(format!(
                "invalid device mode: {}",
                m.permissions
            )));
        }
        if !m.container.starts_with('/') {
            return Err(ApiError::invalid(format!(
                "{} is not an absolute path",
                m.container
            )));
        }
    }
    let rules = hc.resources.device_cgroup_rules.as_deref().unwrap_or(&[]);
    // On cgroup v2 the same rules become the container's BPF device program.
    for r in rules {
        parse_cgroup_rule(r)?;
    }
    Ok(())
}

fn gather_err(host: &str, msg: impl std::fmt::Display) -> DaemonError {
    ApiError::system(format!(
        "error gathering device information while adding custom device \"{host}\": {msg}"
    ))
    .into()
}

/// A device node at `path` (not followed) → an OCI device at `dst`; `None` for anything
/// that is not a char or block device.
fn device_at(path: &Path, dst: &Path) -> std::io::Result<Option<LinuxDevice>> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    LinuxDeviceBuilder::default()
        .path(dst)
        .typ(typ)
        .major(libc::major(rdev) as i64)
        .minor(libc::minor(rdev) as i64)
        .file_mode(meta.mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .map(Some)
        .map_err(std::io::Error::other)
}

/// Every device node below `dir` (symlinks not followed), each mapped under `dst`.
fn devices_below(
    dir: &Path,
    dst: &Path,
    skip: &dyn Fn(&Path) -> bool,
    out: &mut Vec<LinuxDevice>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if skip(&p) {
            continue;
        }
        let target = dst.join(e.file_name());
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            // A directory that vanished or is unreadable is skipped, as Docker's walk does.
            let _ = devices_below(&p, &target, skip, out);
        } else if let Ok(Some(d)) = device_at(&p, &target) {
            out.push(d);
        }
    }
    Ok(())
}

/// `--device` entry → its nodes (a directory gives every device below it).
fn devices_from_path(m: &DeviceMapping) -> Result<Vec<LinuxDevice>> {
    let host = Path::new(&m.host);
    // Docker follows a symlink on the host (`/dev/disk/by-id/...` → `/dev/sda`).
    let resolved: PathBuf = match std::fs::symlink_metadata(host) {
        Ok(md) if md.file_type().is_symlink() => {
            std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf())
        }
        _ => host.to_path_buf(),
    };
    let meta =
        std::fs::symlink_metadata(&resolved).map_err(|e| gather_err(&m.host, errno_text(&e)))?;
    if meta.is_dir() {
        let mut out = Vec::new();
        devices_below(&resolved, Path::new(&m.container), &|_| false, &mut out)
            .map_err(|e| gather_err(&m.host, errno_text(&e)))?;
        if out.is_empty() {
            return Err(gather_err(
                &m.host,
                format!("no devices found in {}", resolved.display()),
            ));
        }
        return Ok(out);
    }
    match device_at(&resolved, Path::new(&m.container)) {
        Ok(Some(d)) => Ok(vec![d]),
        Ok(None) => Err(gather_err(&m.host, "not a device node")),
        Err(e) => Err(gather_err(&m.host, errno_text(&e))),
    }
}

/// Go's error text for an errno ("no such file or directory"), without Rust's " (os error 2)".
fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => {
            let t = &s[..i];
            let mut c = t.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
        None => s,
    }
}

/// Every device node in the host's /dev, as Docker gives a `--privileged` container
/// (containerd's `HostDevices`: no pts, shm, fd, mqueue, console).
fn host_devices() -> Vec<LinuxDevice> {
    let skip = |p: &Path| {
        matches!(
            p.strip_prefix("/dev").ok().and_then(|r| r.to_str()),
            Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev" | "console")
        )
    };
    let mut out = Vec::new();
    let _ = devices_below(Path::new("/dev"), Path::new("/dev"), &skip, &mut out);
    out
}

fn allow(d: &LinuxDevice, access: &str) -> Result<LinuxDeviceCgroup> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(d.typ())
        .major(d.major())
        .minor(d.minor())
        .access(access.to_string())
        .build()
        .map_err(|e| DaemonError::Other(format!("build runtime spec: {e}")))
}

/// Adds the container's devices to `spec` (after the defaults already in it): nodes to
/// `linux.devices`, and allow rules after the default deny-all + allow list, in Docker's
/// order (devices, then `--device-cgroup-rule`s; `--privileged`: allow everything).
pub fn apply(spec: &mut Spec, hc: &HostConfig) -> Result<()> {
    let maps = mappings(hc)?;
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    if hc.privileged {
        nodes.extend(host_devices());
        for m in &maps {
            nodes.extend(devices_from_path(m)?);
        }
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::A)
                .access("rwm".to_string())
                .build()
                .map_err(|e| DaemonError::Other(format!("build runtime spec: {e}")))?,
        );
    } else {
        for m in &maps {
            if !valid_mode(&m.permissions) {
                return Err(
                    ApiError::invalid(format!("invalid device mode: {}", m.permissions)).into(),
                );
            }
            for d in devices_from_path(m)? {
                rules.push(allow(&d, &m.permissions)?);
                nodes.push(d);
            }
        }
        for r in hc.resources.device_cgroup_rules.iter().flatten() {
            rules.push(parse_cgroup_rule(r)?);
        }
    }
    if nodes.is_empty() && rules.is_empty() {
        return Ok(());
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut devs = linux.devices().clone().unwrap_or_default();
    devs.extend(nodes);
    linux.set_devices(Some(devs));
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut allowed = res.devices().clone().unwrap_or_default();
    allowed.extend(rules);
    res.set_devices(Some(allowed));
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_rules() {
        let r = parse_cgroup_rule("c 1:3 rwm").unwrap();
        assert_eq!(
            (r.typ(), r.major(), r.minor(), r.access().as_deref()),
            (Some(LinuxDeviceType::C), Some(1), Some(3), Some("rwm"))
        );
        let r = parse_cgroup_rule("b 8:* r").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(8), None));
        let r = parse_cgroup_rule("a *:* rwm").unwrap();
        assert_eq!((r.typ(), r.major()), (Some(LinuxDeviceType::A), None));
        for bad in [
            "",
            "c 1:3",
            "x 1:3 r",
            "c 1:3 rwx",
            "c 1:3 rwmr",
            "c a:3 r",
            "c 1 r",
            "c  1:3 r",
        ] {
            let e = parse_cgroup_rule(bad).unwrap_err();
            assert!(
                e.to_string().contains("invalid device cgroup rule format"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn device_modes() {
        for ok in ["r", "rw", "rwm", "mwr", "m"] {
            assert!(valid_mode(ok), "{ok}");
        }
        for bad in ["", "x", "rr", "rwmx", "rwmm"] {
            assert!(!valid_mode(bad), "{bad}");
        }
    }

    #[test]
    fn builds_devices_from_host_paths() {
        let m = DeviceMapping {
            host: "/dev/null".into(),
            container: "/dev/mynull".into(),
            permissions: "r".into(),
        };
        let d = devices_from_path(&m).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].typ(), d[0].major(), d[0].minor(), d[0].path().clone()),
            (LinuxDeviceType::C, 1, 3, PathBuf::from("/dev/mynull"))
        );
        let missing = DeviceMapping {
            host: "/dev/nope".into(),
            container: "/dev/nope".into(),
            permissions: "rwm".into(),
        };
        let e = devices_from_path(&missing).unwrap_err().to_string();
        assert!(
            e.contains(
                "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
            ),
            "{e}"
        );
    }
}
