//! `--pid`, `--ipc`, `--uts` and `--cgroupns` modes: which namespaces a container gets
//! of its own, shares with the host, or joins from another running container; and the
//! `/dev/shm` that goes with its IPC mode (moby's `setupIPCDirs` and `WithNamespaces`).

use super::ContainerPaths;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::container::{Config, HostConfig};
use berth_api::ApiError;
use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, MountBuilder, Spec};
use std::path::{Path, PathBuf};

/// Create-time checks, with moby's texts.
pub fn validate(config: &Config, hc: &HostConfig) -> std::result::Result<(), ApiError> {
    let joins = |mode: &str| {
        mode.strip_prefix("container:")
            .is_some_and(|c| !c.is_empty())
    };
    if !(hc.pid_mode.is_empty() || hc.pid_mode == "host" || joins(&hc.pid_mode)) {
        return Err(ApiError::invalid(format!(
            "invalid PID mode: {}",
            hc.pid_mode
        )));
    }
    let ipc_ok = matches!(
        hc.ipc_mode.as_str(),
        "" | "private" | "shareable" | "none" | "host"
    ) || joins(&hc.ipc_mode);
    if !ipc_ok {
        return Err(ApiError::invalid(format!(
            "invalid IPC mode: {}",
            hc.ipc_mode
        )));
    }
    if !matches!(hc.uts_mode.as_str(), "" | "host") {
        return Err(ApiError::invalid(format!(
            "invalid UTS mode: {}",
            hc.uts_mode
        )));
    }
    if !matches!(hc.cgroupns_mode.as_str(), "" | "host" | "private") {
        return Err(ApiError::invalid(format!(
            "invalid cgroup namespace mode: {}",
            hc.cgroupns_mode
        )));
    }
    if hc.uts_mode == "host" && !config.hostname.is_empty() {
        return Err(ApiError::invalid(
            "conflicting options: hostname and the UTS mode",
        ));
    }
    Ok(())
}

/// What a start needs from other containers and the host, looked up before the bundle
/// is written.
#[derive(Debug, Default, Clone)]
pub struct Shared {
    /// `/proc/<pid>/ns/pid` of the `--pid container:` donor.
    pub pid: Option<PathBuf>,
    /// `/proc/<pid>/ns/ipc` of the `--ipc container:` donor.
    pub ipc: Option<PathBuf>,
    /// What to bind at `/dev/shm`: the donor's or this container's shareable tmpfs, or the
    /// host's `/dev/shm` for `--ipc host`. `None`: the runtime's own tmpfs.
    pub shm: Option<PathBuf>,
    /// `--ipc shareable`: mount this container's tmpfs at `shm` before the start.
    pub mount_own_shm: bool,
}

/// A running donor container for `mode` (`container:<name|id>`).
fn donor(daemon: &Daemon, what: &str, name: &str) -> Result<(String, i32, ContainerPaths)> {
    let other = daemon.containers.find(name).map_err(|e| {
        ApiError::invalid(format!("failed to join {what} namespace: {}", e.message))
    })?;
    let rec = other.rec();
    if !rec.state.running || rec.state.pid <= 0 {
        return Err(ApiError::conflict(format!(
            "failed to join {what} namespace: container {name} is not running"
        ))
        .into());
    }
    if rec.state.restarting {
        return Err(ApiError::conflict(format!(
            "failed to join {what} namespace: container {name} is restarting, wait until the container is running"
        ))
        .into());
    }
    Ok((
        rec.id.clone(),
        rec.state.pid as i32,
        daemon.container_paths(&rec.id),
    ))
}

/// Looks up the donors and paths the container's modes name.
pub fn resolve(daemon: &Daemon, paths: &ContainerPaths, hc: &HostConfig) -> Result<Shared> {
    let mut s = Shared::default();
    if let Some(name) = hc.pid_mode.strip_prefix("container:") {
        let (_, pid, _) = donor(daemon, "PID", name)?;
        s.pid = Some(PathBuf::from(format!("/proc/{pid}/ns/pid")));
    }
    match hc.ipc_mode.as_str() {
        "host" => {
            if !Path::new("/dev/shm").is_dir() {
                return Err(ApiError::system(
                    "/dev/shm is not mounted, but must be for --ipc=host",
                )
                .into());
            }
            s.shm = Some(PathBuf::from("/dev/shm"));
        }
        "shareable" => {
            s.shm = Some(paths.shm());
            s.mount_own_shm = true;
        }
        mode => {
            if let Some(name) = mode.strip_prefix("container:") {
                let (id, pid, donor_paths) = donor(daemon, "IPC", name)?;
                if !crate::volumes::is_mountpoint(&donor_paths.shm()) {
                    return Err(ApiError::invalid(format!(
                        "failed to join IPC namespace: container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                    ))
                    .into());
                }
                s.ipc = Some(PathBuf::from(format!("/proc/{pid}/ns/ipc")));
                s.shm = Some(donor_paths.shm());
            }
        }
    }
    Ok(s)
}

/// `--ipc shareable`: a tmpfs on the host at `<container dir>/shm`, owned by the
/// container's root, that other containers can bind as their `/dev/shm` too.
pub fn mount_own_shm(paths: &ContainerPaths, shm_size: i64, owner: (u32, u32)) -> Result<()> {
    let dir = paths.shm();
    std::fs::create_dir_all(&dir)
        .map_err(|e| DaemonError::io(format!("create {}", dir.display()), e))?;
    if crate::volumes::is_mountpoint(&dir) {
        return Ok(());
    }
    use nix::mount::{mount, MsFlags};
    let size = if shm_size > 0 { shm_size } else { 64 << 20 };
    mount(
        Some("shm"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| DaemonError::Other(format!("mounting shm tmpfs: {e}")))?;
    std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1))
        .map_err(|e| DaemonError::io(format!("chown {}", dir.display()), e))
}

/// Unmounts the container's shareable `/dev/shm` tmpfs, if it has one (at exit).
pub fn release_shm(paths: &ContainerPaths) {
    let dir = paths.shm();
    // Only `--ipc shareable` containers have one: one failed stat for all the others.
    if std::fs::symlink_metadata(&dir).is_err() {
        return;
    }
    if crate::volumes::is_mountpoint(&dir) {
        let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir(&dir);
}

fn set_namespace(spec: &mut Spec, typ: LinuxNamespaceType, path: Option<&Path>) -> Result<()> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut list = linux.namespaces().clone().unwrap_or_default();
    list.retain(|n| n.typ() != typ);
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p.to_path_buf());
    }
    list.push(
        b.build()
            .map_err(|e| DaemonError::Other(format!("namespace {typ:?}: {e}")))?,
    );
    linux.set_namespaces(Some(list));
    spec.set_linux(Some(linux));
    Ok(())
}

fn remove_namespace(spec: &mut Spec, typ: LinuxNamespaceType) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(list) = linux.namespaces_mut() {
        list.retain(|n| n.typ() != typ);
    }
    spec.set_linux(Some(linux));
}

/// Applies the modes to the bundle's spec (after the spec is built, before it is written).
pub fn apply(spec: &mut Spec, hc: &HostConfig, shared: &Shared) -> Result<()> {
    match (hc.pid_mode.as_str(), &shared.pid) {
        (_, Some(p)) => set_namespace(spec, LinuxNamespaceType::Pid, Some(p))?,
        ("host", None) => remove_namespace(spec, LinuxNamespaceType::Pid),
        _ => {}
    }
    match (hc.ipc_mode.as_str(), &shared.ipc) {
        (_, Some(p)) => set_namespace(spec, LinuxNamespaceType::Ipc, Some(p))?,
        ("host", None) => remove_namespace(spec, LinuxNamespaceType::Ipc),
        _ => {}
    }
    if hc.uts_mode == "host" {
        remove_namespace(spec, LinuxNamespaceType::Uts);
        spec.set_hostname(None);
    }
    if hc.cgroupns_mode == "host" {
        remove_namespace(spec, LinuxNamespaceType::Cgroup);
    }
    // /dev/shm: a bind of the shared tmpfs, nothing for `none`, else the runtime's own.
    let user_shm = hc.mounts.iter().flatten().any(|m| m.target == "/dev/shm")
        || hc
            .binds
            .iter()
            .flatten()
            .any(|b| b.split(':').nth(1) == Some("/dev/shm"))
        || hc
            .tmpfs
            .as_ref()
            .is_some_and(|t| t.contains_key("/dev/shm"));
    if user_shm {
        return Ok(());
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if hc.ipc_mode == "none" {
        mounts.retain(|m| m.destination() != Path::new("/dev/shm"));
    } else if let Some(src) = &shared.shm {
        let bind = MountBuilder::default()
            .destination("/dev/shm")
            .typ("bind")
            .source(src)
            .options(vec!["rbind".to_string(), "rprivate".to_string()])
            .build()
            .map_err(|e| DaemonError::Other(format!("build /dev/shm mount: {e}")))?;
        match mounts
            .iter_mut()
            .find(|m| m.destination() == Path::new("/dev/shm"))
        {
            Some(m) => *m = bind,
            None => mounts.push(bind),
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(pid: &str, ipc: &str, uts: &str, cgns: &str) -> HostConfig {
        HostConfig {
            pid_mode: pid.into(),
            ipc_mode: ipc.into(),
            uts_mode: uts.into(),
            cgroupns_mode: cgns.into(),
            ..Default::default()
        }
    }

    #[test]
    fn modes_are_checked_like_moby() {
        let c = Config::default();
        assert!(validate(&c, &hc("host", "shareable", "host", "host")).is_ok());
        assert!(validate(&c, &hc("container:x", "container:y", "", "private")).is_ok());
        let e = |h: HostConfig| validate(&c, &h).unwrap_err().message;
        assert_eq!(e(hc("sideways", "", "", "")), "invalid PID mode: sideways");
        assert_eq!(
            e(hc("container:", "", "", "")),
            "invalid PID mode: container:"
        );
        assert_eq!(e(hc("", "public", "", "")), "invalid IPC mode: public");
        assert_eq!(e(hc("", "", "private", "")), "invalid UTS mode: private");
        assert_eq!(
            e(hc("", "", "", "shared")),
            "invalid cgroup namespace mode: shared"
        );
        let named = Config {
            hostname: "h".into(),
            ..Default::default()
        };
        assert_eq!(
            validate(&named, &hc("", "", "host", ""))
                .unwrap_err()
                .message,
            "conflicting options: hostname and the UTS mode"
        );
    }
}
