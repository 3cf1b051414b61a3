//! A container's mounts: planned at create from `HostConfig.Binds` (`-v`),
//! `HostConfig.Mounts` (`--mount`), `HostConfig.VolumesFrom` and `Config.Volumes` (the
//! image's `VOLUME`s and `-v /path`), in dockerd's precedence (Binds and Mounts, then
//! VolumesFrom, then Config.Volumes, each destination once); turned into OCI mounts at
//! start, after a new volume got the image's content at its path.
//!
//! Destinations are only ever resolved by the runtime, inside the rootfs
//! (`openat2(RESOLVE_IN_ROOT)`), so a symlink in the container cannot aim a mount at the
//! host; the copy of image content reads the rootfs the same way (`copy`).

use super::VolumeRecord;
use crate::containers::ContainerRecord;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_api::container::{Config, HostConfig, MountPoint};
use berth_api::volume::Mount as ApiMount;
use berth_api::ApiError;
use oci_spec::runtime::{Mount, MountBuilder, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One mount of a container as planned at create (kept in the container's record).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MountPlan {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// Volume name (for `volume`; filled with a random one for anonymous volumes).
    #[serde(default)]
    pub name: String,
    /// Host path (for `bind`).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// `Mode` as inspect shows it.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub propagation: String,
    /// Don't copy the image's content into a new volume.
    #[serde(default)]
    pub nocopy: bool,
    /// `-v /host:/x`: a missing host path is made as a directory.
    #[serde(default)]
    pub create_source: bool,
    #[serde(default)]
    pub non_recursive: bool,
    /// Read-only on the mount itself only, not its submounts (API < 1.44, or
    /// `bind-recursive=writable`).
    #[serde(default)]
    pub ro_non_recursive: bool,
    /// Read-only on every submount or fail (`bind-recursive=readonly`).
    #[serde(default)]
    pub ro_force_recursive: bool,
    #[serde(default)]
    pub subpath: String,
    #[serde(default)]
    pub tmpfs_size: i64,
    #[serde(default)]
    pub tmpfs_mode: u32,
    /// Made for this container without a name.
    #[serde(default)]
    pub anonymous: bool,
    /// `--mount volume-label=`/`volume-opt=` for a volume made now.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_options: BTreeMap<String, String>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::invalid(msg)
}

/// `filepath.Clean` for absolute container paths.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Docker's valid `-v` modes: `rw|ro`, `z|Z`, `nocopy`, a propagation, a consistency; one
/// of each kind at most.
fn parse_mode(mode: &str) -> Option<(Option<bool>, bool, Option<&str>)> {
    let (mut rw, mut nocopy, mut prop, mut label) = (None, false, None, false);
    let mut seen_consistency = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "rw" | "ro" if rw.is_none() => rw = Some(m == "rw"),
            "z" | "Z" if !label => label = true,
            "nocopy" if !nocopy => nocopy = true,
            "consistent" | "cached" | "delegated" if !seen_consistency => seen_consistency = true,
            p if PROPAGATIONS.contains(&p) && prop.is_none() => prop = Some(p),
            _ => return None,
        }
    }
    Some((rw, nocopy, prop))
}

fn check_destination(kind: &str, dst: &str) -> std::result::Result<(), ApiError> {
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if clean(dst) == "/" {
        return Err(invalid("invalid specification: destination can't be '/'"));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry (moby's linux `ParseMountRaw`).
pub fn parse_bind(raw: &str) -> std::result::Result<MountPlan, ApiError> {
    let spec_err = || invalid(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => {
            if parse_mode(d).is_some() && !d.starts_with('/') {
                return Err(spec_err());
            }
            (*s, *d, "")
        }
        [s, d, m] => (*s, *d, *m),
        _ => return Err(spec_err()),
    };
    if dst.is_empty() {
        return Err(spec_err());
    }
    let (rw, nocopy, prop) =
        parse_mode(mode).ok_or_else(|| invalid(format!("invalid mode: {mode}")))?;
    let is_bind = src.starts_with('/');
    let kind = if is_bind { "bind" } else { "volume" };
    check_destination(kind, dst)?;
    if !is_bind && !src.is_empty() {
        super::validate_name(src).map_err(|_| {
            invalid(format!(
                "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            ))
        })?;
    }
    if is_bind && nocopy {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    if !is_bind && prop.is_some() {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    Ok(MountPlan {
        kind: kind.into(),
        name: if is_bind {
            String::new()
        } else {
            src.to_string()
        },
        source: if is_bind { clean(src) } else { String::new() },
        destination: clean(dst),
        rw: rw.unwrap_or(true),
        mode: if !is_bind && mode.is_empty() {
            "z".into()
        } else {
            mode.to_string()
        },
        propagation: if is_bind {
            prop.unwrap_or("rprivate").to_string()
        } else {
            String::new()
        },
        nocopy,
        create_source: is_bind,
        anonymous: src.is_empty(),
        ..Default::default()
    })
}

/// One `HostConfig.Mounts` entry (moby's `validateMountConfig` + `ParseMountSpec`).
pub fn parse_mount(m: &ApiMount) -> std::result::Result<MountPlan, ApiError> {
    let kind = m.kind.as_str();
    let cfg_err = |msg: &str| invalid(format!("invalid mount config for type \"{kind}\": {msg}"));
    if m.target.is_empty() {
        return Err(cfg_err("field Target must not be empty"));
    }
    check_destination(kind, &m.target)?;
    let dst = clean(&m.target);
    let mut p = MountPlan {
        kind: kind.to_string(),
        destination: dst,
        rw: !m.read_only,
        ..Default::default()
    };
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(cfg_err("field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(cfg_err(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if m.volume_options.is_some() {
                return Err(cfg_err("field VolumeOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(cfg_err("field TmpfsOptions must not be specified"));
            }
            let b = m.bind_options.clone().unwrap_or_default();
            if !b.propagation.is_empty() && !PROPAGATIONS.contains(&b.propagation.as_str()) {
                return Err(cfg_err(&format!(
                    "invalid propagation mode: {}",
                    b.propagation
                )));
            }
            p.source = clean(&m.source);
            p.propagation = if b.propagation.is_empty() {
                "rprivate".into()
            } else {
                b.propagation
            };
            p.non_recursive = b.non_recursive;
            if b.read_only_non_recursive && b.read_only_force_recursive {
                return Err(cfg_err(
                    "mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive",
                ));
            }
            p.ro_non_recursive = b.read_only_non_recursive;
            p.ro_force_recursive = b.read_only_force_recursive;
            p.create_source = b.create_mountpoint;
            if !p.create_source && std::fs::symlink_metadata(&p.source).is_err() {
                return Err(cfg_err(&format!(
                    "bind source path does not exist: {}",
                    p.source
                )));
            }
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(cfg_err("field BindOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(cfg_err("field TmpfsOptions must not be specified"));
            }
            if !m.source.is_empty() {
                super::validate_name(&m.source).map_err(|e| cfg_err(&e.message))?;
            }
            let v = m.volume_options.clone().unwrap_or_default();
            if let Some(dc) = &v.driver_config {
                if !dc.name.is_empty() && dc.name != "local" {
                    return Err(ApiError::not_found(format!(
                        "error looking up volume plugin {0}: plugin \"{0}\" not found",
                        dc.name
                    )));
                }
                p.volume_options = dc.options.clone().unwrap_or_default();
                super::validate_options(&p.volume_options)?;
            }
            p.volume_labels = v.labels.unwrap_or_default();
            p.name = m.source.clone();
            p.anonymous = m.source.is_empty();
            p.nocopy = v.no_copy;
            p.subpath = v.subpath.clone();
            p.mode = "z".into();
            if !p.subpath.is_empty()
                && (p.subpath.starts_with('/') || p.subpath.split('/').any(|c| c == ".."))
            {
                return Err(cfg_err("subpath must be a relative path within the volume"));
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(cfg_err("field Source must not be specified"));
            }
            if m.bind_options.is_some() {
                return Err(cfg_err("field BindOptions must not be specified"));
            }
            if m.volume_options.is_some() {
                return Err(cfg_err("field VolumeOptions must not be specified"));
            }
            let t = m.tmpfs_options.clone().unwrap_or_default();
            if t.size_bytes < 0 {
                return Err(cfg_err("invalid tmpfs size"));
            }
            p.tmpfs_size = t.size_bytes;
            p.tmpfs_mode = t.mode;
        }
        "" => return Err(invalid("invalid mount config: mount type unknown")),
        other => {
            return Err(invalid(format!(
                "invalid mount config for type \"{other}\": mount type unknown"
            )))
        }
    }
    Ok(p)
}

/// Plans a new container's mounts; fails with Docker's texts. `volumes_from` sources are
/// looked up in the daemon's registry. Anonymous volumes get their random names here.
///
/// `legacy_read_only`: the client speaks API < 1.44, where read-only mounts were read-only
/// on the mount itself only; moby keeps that for old clients, and so do we.
pub fn plan(
    daemon: &Daemon,
    config: &Config,
    hc: &HostConfig,
    legacy_read_only: bool,
) -> Result<Vec<MountPlan>> {
    let mut user: Vec<MountPlan> = Vec::new();
    let push_unique =
        |list: &mut Vec<MountPlan>, p: MountPlan| -> std::result::Result<(), ApiError> {
            if list.iter().any(|x| x.destination == p.destination) {
                return Err(invalid(format!("Duplicate mount point: {}", p.destination)));
            }
            list.push(p);
            Ok(())
        };
    for raw in hc.binds.iter().flatten() {
        push_unique(&mut user, parse_bind(raw)?)?;
    }
    if let Some(list) = hc.mounts.as_ref() {
        for m in list {
            if legacy_read_only
                && m.bind_options
                    .as_ref()
                    .is_some_and(|b| b.read_only_force_recursive)
            {
                return Err(
                    invalid("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer").into(),
                );
            }
            push_unique(&mut user, parse_mount(m)?)?;
        }
    }
    if legacy_read_only {
        for p in user.iter_mut().filter(|p| !p.rw) {
            p.ro_non_recursive = true;
        }
    }
    let mut all = user;
    for spec in hc.volumes_from.iter().flatten() {
        let (name, mode) = match spec.split_once(':') {
            Some((n, m)) => (n, m),
            None => (spec.as_str(), ""),
        };
        let rw_override = match mode {
            "" => None,
            "rw" => Some(true),
            "ro" => Some(false),
            m => return Err(invalid(format!("invalid mode: {m}")).into()),
        };
        let other = daemon.containers.find(name)?;
        let plans = other.rec().mount_plan.clone();
        for mut p in plans {
            if p.kind == "tmpfs" || all.iter().any(|x| x.destination == p.destination) {
                continue;
            }
            if let Some(rw) = rw_override {
                p.rw = rw;
                p.mode = mode.to_string();
            }
            // The volume belongs to the container it came from.
            p.anonymous = false;
            p.create_source = p.kind == "bind";
            all.push(p);
        }
    }
    for dst in config.volumes.iter().flat_map(|v| v.keys()) {
        check_destination("volume", dst)?;
        let dst = clean(dst);
        if all.iter().any(|x| x.destination == dst) {
            continue;
        }
        all.push(MountPlan {
            kind: "volume".into(),
            destination: dst,
            rw: true,
            anonymous: true,
            ..Default::default()
        });
    }
    for p in all.iter_mut() {
        if p.kind == "volume" && p.name.is_empty() {
            p.name = super::anonymous_name();
        }
    }
    Ok(all)
}

/// Creates the volumes a new container's plan names that do not exist yet; returns the
/// names made (so a failed create can take them back).
pub fn ensure_volumes(daemon: &Daemon, plans: &[MountPlan]) -> Result<Vec<String>> {
    let mut made = Vec::new();
    for p in plans.iter().filter(|p| p.kind == "volume") {
        if daemon.volumes.get(&p.name).is_ok() {
            continue;
        }
        let mut labels = p.volume_labels.clone();
        if p.anonymous {
            labels.insert(super::ANONYMOUS_LABEL.into(), String::new());
        }
        match daemon.volumes.create(
            &*daemon.store,
            &p.name,
            "local",
            labels,
            p.volume_options.clone(),
        ) {
            Ok((_, true)) => {
                super::volume_event(daemon, &p.name, "create");
                made.push(p.name.clone());
            }
            Ok(_) => {}
            Err(e) => {
                undo(daemon, &made);
                return Err(e);
            }
        }
    }
    Ok(made)
}

/// Removes volumes made by `ensure_volumes` for a container that was not created.
pub fn undo(daemon: &Daemon, made: &[String]) {
    for n in made {
        let _ = daemon.volumes.delete(&*daemon.store, n);
    }
}

/// The mounts inspect shows (`Mounts`), from the plan.
pub fn mount_points(daemon: &Daemon, plans: &[MountPlan]) -> Vec<MountPoint> {
    plans
        .iter()
        .map(|p| MountPoint {
            kind: p.kind.clone(),
            name: p.name.clone(),
            source: match p.kind.as_str() {
                "volume" => daemon
                    .volumes
                    .data_dir(&p.name)
                    .to_string_lossy()
                    .into_owned(),
                "bind" => p.source.clone(),
                _ => String::new(),
            },
            destination: p.destination.clone(),
            driver: if p.kind == "volume" {
                "local".into()
            } else {
                String::new()
            },
            mode: p.mode.clone(),
            rw: p.rw,
            propagation: p.propagation.clone(),
        })
        .collect()
}

/// One mount ready for a start: the host path to bind (or a tmpfs) and whether a new
/// volume gets the image's content first.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub plan: MountPlan,
    /// Host path bound at the destination (empty for tmpfs).
    pub host: PathBuf,
    /// The volume's `_data` to fill from the image when it is empty.
    pub populate: Option<PathBuf>,
}

/// Before a start: volumes exist (re-made if gone) and are mounted when they are a mount
/// of their own, missing `-v` host paths are made, `--mount` bind sources exist.
pub fn resolve(daemon: &Daemon, rec: &ContainerRecord) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    for p in &rec.mount_plan {
        match p.kind.as_str() {
            "volume" => {
                let v: VolumeRecord = match daemon.volumes.get(&p.name) {
                    Ok(v) => v,
                    Err(_) => {
                        ensure_volumes(daemon, std::slice::from_ref(p))?;
                        daemon.volumes.get(&p.name)?
                    }
                };
                daemon.volumes.ensure_mounted(&v)?;
                let data = daemon.volumes.data_dir(&p.name);
                let host = if p.subpath.is_empty() {
                    data.clone()
                } else {
                    // The subpath must stay inside the volume once its links are resolved.
                    let sub = data.join(&p.subpath);
                    let real = std::fs::canonicalize(&sub).map_err(|e| {
                        ApiError::invalid(format!("cannot access path {}: {e}", sub.display()))
                    })?;
                    let base = std::fs::canonicalize(&data)
                        .map_err(|e| DaemonError::io(format!("resolve {}", data.display()), e))?;
                    if !real.starts_with(&base) {
                        return Err(ApiError::invalid(format!(
                            "subpath {} is outside of the volume",
                            p.subpath
                        ))
                        .into());
                    }
                    real
                };
                let populate = (!p.nocopy && !rec.has_been_started && p.subpath.is_empty())
                    .then(|| data.clone());
                out.push(Prepared {
                    plan: p.clone(),
                    host,
                    populate,
                });
            }
            "bind" => {
                let src = PathBuf::from(&p.source);
                if std::fs::symlink_metadata(&src).is_err() {
                    if p.create_source {
                        std::fs::create_dir_all(&src).map_err(|e| {
                            DaemonError::io(format!("create mountpoint {}", src.display()), e)
                        })?;
                    } else {
                        return Err(ApiError::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            p.source
                        ))
                        .into());
                    }
                }
                out.push(Prepared {
                    plan: p.clone(),
                    host: src,
                    populate: None,
                });
            }
            _ => out.push(Prepared {
                plan: p.clone(),
                host: PathBuf::new(),
                populate: None,
            }),
        }
    }
    Ok(out)
}

/// With the rootfs mounted: copies the image's content at each new volume's destination
/// into the volume, when the volume is still empty (Docker's first-mount copy).
pub fn populate(prepared: &[Prepared], rootfs: &Path) -> Result<()> {
    for p in prepared {
        let Some(data) = &p.populate else { continue };
        super::copy::populate_from_image(rootfs, &p.plan.destination, data).map_err(|e| {
            DaemonError::Other(format!(
                "copy image content into volume {}: {e}",
                p.plan.name
            ))
        })?;
    }
    Ok(())
}

/// `rro` (read-only down through every submount, as Docker ≥ 25 does where the kernel has
/// `mount_setattr`) unless the mount asks for the top only; `ro` where the kernel lacks it,
/// or an error when the mount insists on `rro`.
fn read_only_option(plan: &MountPlan) -> Result<&'static str> {
    let supported = berth_runtime::sys::supports_recursive_read_only();
    if plan.ro_force_recursive && !supported {
        return Err(DaemonError::Other(
            "rro is not supported: mount_setattr is not available (kernel is older than 5.12?)"
                .into(),
        ));
    }
    Ok(if supported && !plan.ro_non_recursive {
        "rro"
    } else {
        "ro"
    })
}

fn oci_mount(p: &Prepared) -> Result<Mount> {
    let plan = &p.plan;
    let (typ, source, opts) = if plan.kind == "tmpfs" {
        let mut opts = vec!["noexec".to_string(), "nosuid".into(), "nodev".into()];
        if plan.tmpfs_size > 0 {
            opts.push(format!("size={}k", (plan.tmpfs_size / 1024).max(1)));
        }
        if plan.tmpfs_mode != 0 {
            opts.push(format!("mode={:o}", plan.tmpfs_mode & 0o7777));
        }
        if !plan.rw {
            opts.push("ro".into());
        }
        ("tmpfs", PathBuf::from("tmpfs"), opts)
    } else {
        let mut opts = vec![if plan.non_recursive { "bind" } else { "rbind" }.to_string()];
        opts.push(if plan.propagation.is_empty() {
            "rprivate".into()
        } else {
            plan.propagation.clone()
        });
        if !plan.rw {
            opts.push(read_only_option(plan)?.into());
        }
        if !plan.subpath.is_empty() {
            // The subpath lies in container-writable data: a container could swap one of
            // its directories for a symlink between our check and the mount. The runtime
            // opens such a source without following any symlink and mounts that fd.
            opts.push(berth_runtime::rootfs::NOFOLLOW_SOURCE_OPTION.into());
        }
        ("bind", p.host.clone(), opts)
    };
    MountBuilder::default()
        .destination(&plan.destination)
        .typ(typ)
        .source(source)
        .options(opts)
        .build()
        .map_err(|e| DaemonError::Other(format!("build mount {}: {e}", plan.destination)))
}

/// Adds the container's mounts to its spec: a default mount at the same destination is
/// replaced (all of /dev's when a mount is at /dev), and all mounts are ordered parents first (a stable sort by depth), as
/// dockerd orders them.
pub fn apply_to_spec(spec: &mut Spec, prepared: &[Prepared]) -> Result<()> {
    if prepared.is_empty() {
        return Ok(());
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let dests: Vec<&str> = prepared
        .iter()
        .map(|p| p.plan.destination.as_str())
        .collect();
    // A user mount at /dev replaces the default /dev and everything under it (dockerd).
    let user_dev = dests.contains(&"/dev");
    mounts.retain(|m| {
        let d = m.destination();
        let replaced = dests.iter().any(|x| d == Path::new(x));
        let under_dev = user_dev && d.starts_with("/dev/");
        !replaced && !under_dev
    });
    for p in prepared {
        mounts.push(oci_mount(p)?);
    }
    mounts.sort_by_key(|m| m.destination().components().count());
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_read_only_options_conflict() {
        let m: ApiMount = serde_json::from_str(
            r#"{"Type":"bind","Source":"/","Target":"/h","ReadOnly":true,
                "BindOptions":{"ReadOnlyNonRecursive":true,"ReadOnlyForceRecursive":true}}"#,
        )
        .unwrap();
        let e = parse_mount(&m).unwrap_err();
        assert!(e
            .message
            .contains("ReadOnlyNonRecursive && ReadOnlyForceRecursive"));
        let m: ApiMount = serde_json::from_str(
            r#"{"Type":"bind","Source":"/","Target":"/h","ReadOnly":true,
                "BindOptions":{"ReadOnlyNonRecursive":true}}"#,
        )
        .unwrap();
        let p = parse_mount(&m).unwrap();
        assert!(p.ro_non_recursive && !p.ro_force_recursive);
        assert_eq!(read_only_option(&p).unwrap(), "ro");
    }

    #[test]
    fn binds_parse_like_docker() {
        let b = parse_bind("/host/dir:/data:ro").unwrap();
        assert_eq!(
            (
                b.kind.as_str(),
                b.source.as_str(),
                b.destination.as_str(),
                b.rw
            ),
            ("bind", "/host/dir", "/data", false)
        );
        assert_eq!(b.propagation, "rprivate");
        let v = parse_bind("myvol:/data").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.name.as_str(), v.mode.as_str()),
            ("volume", "myvol", "z")
        );
        assert!(!v.anonymous);
        let n = parse_bind("myvol:/data:nocopy,ro").unwrap();
        assert!(n.nocopy && !n.rw);
        let a = parse_bind("/only").unwrap();
        assert!(a.anonymous && a.kind == "volume");
        assert_eq!(
            parse_bind("/data:rw").unwrap_err().message,
            "invalid volume specification: '/data:rw'"
        );
        assert_eq!(
            parse_bind("v1:/data:bogus").unwrap_err().message,
            "invalid mode: bogus"
        );
        assert!(parse_bind("v1:rel")
            .unwrap_err()
            .message
            .contains("must be absolute"));
        assert!(parse_bind("a:b:c:d").is_err());
        assert!(parse_bind("v1:/").is_err());
        assert_eq!(clean("/a/../b/./c/"), "/b/c");
    }

    #[test]
    fn mounts_parse_like_docker() {
        let m: ApiMount = serde_json::from_str(
            r#"{"Type":"bind","Source":"/definitely/not/here","Target":"/x"}"#,
        )
        .unwrap();
        assert_eq!(
            parse_mount(&m).unwrap_err().message,
            "invalid mount config for type \"bind\": bind source path does not exist: /definitely/not/here"
        );
        let t: ApiMount = serde_json::from_str(
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}}"#,
        )
        .unwrap();
        let p = parse_mount(&t).unwrap();
        let prep = Prepared {
            plan: p,
            host: PathBuf::new(),
            populate: None,
        };
        let om = oci_mount(&prep).unwrap();
        assert_eq!(
            om.options().clone().unwrap(),
            vec!["noexec", "nosuid", "nodev", "size=1024k", "mode=1777"]
        );
        let sp: ApiMount = serde_json::from_str(
            r#"{"Type":"volume","Source":"vol","Target":"/s","VolumeOptions":{"Subpath":"a/b"}}"#,
        )
        .unwrap();
        let prep = Prepared {
            plan: parse_mount(&sp).unwrap(),
            host: PathBuf::from("/x"),
            populate: None,
        };
        assert!(oci_mount(&prep)
            .unwrap()
            .options()
            .clone()
            .unwrap()
            .contains(&berth_runtime::rootfs::NOFOLLOW_SOURCE_OPTION.to_string()));
        let v: ApiMount = serde_json::from_str(
            r#"{"Type":"volume","Target":"/v","ReadOnly":true,"VolumeOptions":{"NoCopy":true}}"#,
        )
        .unwrap();
        let p = parse_mount(&v).unwrap();
        assert!(p.anonymous && p.nocopy && !p.rw);
        let bad: ApiMount =
            serde_json::from_str(r#"{"Type":"tmpfs","Source":"x","Target":"/t"}"#).unwrap();
        assert!(parse_mount(&bad)
            .unwrap_err()
            .message
            .contains("Source must not be specified"));
    }
}
