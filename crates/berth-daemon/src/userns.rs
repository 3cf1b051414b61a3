//! `--userns-remap`: containers run in a user namespace whose root is an unprivileged
//! host id taken from /etc/subuid and /etc/subgid, as with dockerd.
//!
//! - `default` means the user `dockremap` (created with its ranges when missing);
//!   `user`, `user:group`, `uid`, `uid:gid` name the owner of the subordinate ranges
//!   (a numeric id needs no /etc/passwd entry; entries are matched by name or number).
//! - A remapped daemon keeps images, layers and containers under
//!   `<data-root>/<rootuid>.<rootgid>/`; layers are unpacked with owners shifted.
//! - Per container, `--userns host` opts out of the user namespace (the layers stay the
//!   remapped ones); `--privileged`, `--network host` and `--pid host` need it.

use crate::containers::ContainerPaths;
use crate::error::{DaemonError, Result};
use berth_api::ApiError;
use berth_image::idmap::{IdMap, IdRange};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Docker's name for the user of `--userns-remap default`.
pub const DEFAULT_REMAP_USER: &str = "dockremap";

/// A resolved remapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// The user (and group) whose subordinate ranges are used.
    pub user: String,
    pub group: String,
    pub map: IdMap,
    /// Host uid/gid of root in the containers.
    pub root_uid: u32,
    pub root_gid: u32,
}

fn remap_err(msg: impl Into<String>) -> DaemonError {
    DaemonError::Other(msg.into())
}

/// `name:x:id:...` entries of /etc/passwd or /etc/group: (name, id).
fn id_db(path: &str) -> Vec<(String, u32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Resolves `name or number` against a passwd/group file: (name if known, id).
fn lookup(db: &[(String, u32)], what: &str, v: &str) -> Result<(Option<String>, u32)> {
    if let Ok(n) = v.parse::<u32>() {
        let name = db.iter().find(|(_, id)| *id == n).map(|(s, _)| s.clone());
        return Ok((name, n));
    }
    db.iter()
        .find(|(s, _)| s == v)
        .map(|(s, id)| (Some(s.clone()), *id))
        .ok_or_else(|| {
            remap_err(format!(
                "error during {what} lookup for {v:?}: no such {what}"
            ))
        })
}

/// Ranges `(start, len)` of `/etc/subuid`-style `text` for an owner known by `name` and/or
/// number, sorted by start (Docker's order).
pub fn parse_subid(text: &str, name: Option<&str>, id: u32) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 3 {
                return None;
            }
            let owner_matches = Some(f[0]) == name || f[0].parse::<u32>().ok() == Some(id);
            if !owner_matches {
                return None;
            }
            let (start, len) = (f[1].parse().ok()?, f[2].parse().ok()?);
            (len > 0).then_some((start, len))
        })
        .collect();
    out.sort();
    out
}

/// Container ids are handed out contiguously over the ranges, as Docker's createIDMap.
fn to_ranges(subids: &[(u32, u32)]) -> Vec<IdRange> {
    let mut next = 0u32;
    subids
        .iter()
        .map(|&(start, len)| {
            let r = IdRange {
                container_id: next,
                host_id: start,
                size: len,
            };
            next = next.saturating_add(len);
            r
        })
        .collect()
}

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// Resolves a `--userns-remap` value (creating `dockremap` for `default`).
pub fn resolve(value: &str) -> Result<Remap> {
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(remap_err(format!(
            "Invalid user/group specification in --userns-remap: {value:?}"
        )));
    }
    if parts[0] == "default" {
        if parts.len() != 1 {
            return Err(remap_err(format!(
                "Invalid user/group specification in --userns-remap: {value:?}"
            )));
        }
        ensure_default_user()?;
        return resolve(&format!("{DEFAULT_REMAP_USER}:{DEFAULT_REMAP_USER}"));
    }
    let users = id_db("/etc/passwd");
    let groups = id_db("/etc/group");
    let (uname, uid) = lookup(&users, "user", parts[0])?;
    let (gname, gid) = match parts.get(1) {
        Some(g) => lookup(&groups, "group", g)?,
        // Docker: a lone user (name or number) means the group of the same name/number.
        None => match &uname {
            Some(n) if parts[0].parse::<u32>().is_err() => lookup(&groups, "group", n)?,
            _ => lookup(&groups, "group", &uid.to_string())?,
        },
    };
    let subuid = std::fs::read_to_string(SUBUID).unwrap_or_default();
    let subgid = std::fs::read_to_string(SUBGID).unwrap_or_default();
    let uranges = parse_subid(&subuid, uname.as_deref(), uid);
    let granges = parse_subid(&subgid, gname.as_deref(), gid);
    let user = uname.unwrap_or_else(|| uid.to_string());
    let group = gname.unwrap_or_else(|| gid.to_string());
    if uranges.is_empty() {
        return Err(remap_err(format!(
            "can't create ID mappings: no subuid ranges found for user {user:?}"
        )));
    }
    if granges.is_empty() {
        return Err(remap_err(format!(
            "can't create ID mappings: no subgid ranges found for group {group:?}"
        )));
    }
    let map = IdMap {
        uids: to_ranges(&uranges),
        gids: to_ranges(&granges),
    };
    let (root_uid, root_gid) = map
        .root_pair()
        .ok_or_else(|| remap_err("the id maps have no root"))?;
    Ok(Remap {
        user,
        group,
        map,
        root_uid,
        root_gid,
    })
}

/// First free `len`-long range at or above 100000 that overlaps none of `taken`.
fn free_range(taken: &[(u32, u32)], len: u32) -> u32 {
    let mut start: u64 = 100_000;
    loop {
        let end = start + len as u64;
        match taken
            .iter()
            .find(|(s, l)| (*s as u64) < end && start < *s as u64 + *l as u64)
        {
            Some((s, l)) => start = *s as u64 + *l as u64,
            None => return start.min(u32::MAX as u64 - len as u64) as u32,
        }
    }
}

fn all_ranges(text: &str) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            (f.len() == 3).then(|| Some((f[1].parse().ok()?, f[2].parse().ok()?)))?
        })
        .collect()
}

/// `--userns-remap default`: creates the system user `dockremap` (like Docker, with
/// `useradd -r -s /bin/false`) and gives it a 65536-id range in /etc/subuid and
/// /etc/subgid when it has none.
fn ensure_default_user() -> Result<()> {
    if !id_db("/etc/passwd")
        .iter()
        .any(|(n, _)| n == DEFAULT_REMAP_USER)
    {
        let out = std::process::Command::new("useradd")
            .args(["-r", "-s", "/bin/false", DEFAULT_REMAP_USER])
            .output()
            .map_err(|e| remap_err(format!("couldn't create {DEFAULT_REMAP_USER}: {e}")))?;
        if !out.status.success() {
            return Err(remap_err(format!(
                "couldn't create {DEFAULT_REMAP_USER}: useradd: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let uid = id_db("/etc/passwd")
        .into_iter()
        .find(|(n, _)| n == DEFAULT_REMAP_USER)
        .map(|(_, id)| id)
        .ok_or_else(|| remap_err(format!("{DEFAULT_REMAP_USER} has no /etc/passwd entry")))?;
    for file in [SUBUID, SUBGID] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !parse_subid(&text, Some(DEFAULT_REMAP_USER), uid).is_empty() {
            continue;
        }
        let start = free_range(&all_ranges(&text), 65536);
        let mut new = text.clone();
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&format!("{DEFAULT_REMAP_USER}:{start}:65536\n"));
        std::fs::write(file, new).map_err(|e| remap_err(format!("write {file}: {e}")))?;
    }
    Ok(())
}

/// Whether the remapped root can traverse `dir` (o+x, or its owner/group with x).
fn can_traverse(meta: &std::fs::Metadata, r: &Remap) -> bool {
    let mode = meta.permissions().mode();
    mode & 0o001 != 0
        || (meta.uid() == r.root_uid && mode & 0o100 != 0)
        || (meta.gid() == r.root_gid && mode & 0o010 != 0)
}

/// Creates `<data-root>/<uid>.<gid>` (0710, root:<rootgid>) and returns it; refuses a path
/// whose existing parents the remapped root could not traverse, as dockerd does.
pub fn setup_data_root(data_root: &Path, r: &Remap) -> Result<PathBuf> {
    std::fs::create_dir_all(data_root)
        .map_err(|e| DaemonError::io(format!("create {}", data_root.display()), e))?;
    let root = data_root.join(format!("{}.{}", r.root_uid, r.root_gid));
    std::fs::create_dir_all(&root)
        .map_err(|e| DaemonError::io(format!("create {}", root.display()), e))?;
    chown_mode(&root, 0, r.root_gid, berth_perms::Mode::CONTAINER_DIR)?;
    let mut dir = root.as_path();
    while let Some(parent) = dir.parent() {
        if parent == Path::new("/") || parent.as_os_str().is_empty() {
            break;
        }
        let meta = std::fs::metadata(parent)
            .map_err(|e| DaemonError::io(format!("stat {}", parent.display()), e))?;
        if !can_traverse(&meta, r) {
            return Err(remap_err(format!(
                "a subdirectory in your graphroot path ({}) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories",
                root.display()
            )));
        }
        dir = parent;
    }
    let containers = root.join("containers");
    std::fs::create_dir_all(&containers)
        .map_err(|e| DaemonError::io(format!("create {}", containers.display()), e))?;
    chown_mode(&containers, 0, r.root_gid, berth_perms::Mode::CONTAINER_DIR)?;
    Ok(root)
}

fn chown_mode(p: &Path, uid: u32, gid: u32, mode: berth_perms::Mode) -> Result<()> {
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .and_then(|()| berth_perms::set_mode(p, mode))
        .map_err(|e| DaemonError::io(format!("chown {}", p.display()), e))
}

/// Whether a container of this daemon runs in a user namespace.
pub fn container_remapped<'a>(
    remap: Option<&'a Remap>,
    hc: &berth_api::container::HostConfig,
) -> Option<&'a Remap> {
    remap.filter(|_| hc.userns_mode != "host")
}

/// Create-time checks (moby's verifyPlatformContainerSettings).
pub fn validate(remap: Option<&Remap>, hc: &berth_api::container::HostConfig) -> Result<()> {
    match hc.userns_mode.as_str() {
        "" | "host" => {}
        other => return Err(ApiError::invalid(format!("invalid USER NS mode: {other:?}")).into()),
    }
    if container_remapped(remap, hc).is_none() {
        return Ok(());
    }
    if hc.privileged {
        return Err(ApiError::invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        )
        .into());
    }
    if hc.network_mode == "host" {
        return Err(ApiError::invalid(
            "cannot share the host's network namespace when user namespaces are enabled",
        )
        .into());
    }
    if hc.pid_mode == "host" {
        return Err(ApiError::invalid(
            "cannot share the host PID namespace when user namespaces are enabled",
        )
        .into());
    }
    Ok(())
}

/// Before the rootfs is mounted: the container's directory, rw layer and the files bound
/// into it belong to the remapped root (a `--userns host` container of a remapped daemon
/// keeps the same ownership: its root is real root, which may use them anyway).
pub fn prepare_container_dirs(remap: Option<&Remap>, paths: &ContainerPaths) -> Result<()> {
    let Some(r) = remap else { return Ok(()) };
    chown_mode(&paths.dir, 0, r.root_gid, berth_perms::Mode::CONTAINER_DIR)?;
    for d in [paths.upper(), paths.rootfs()] {
        let meta = std::fs::metadata(&d)
            .map_err(|e| DaemonError::io(format!("stat {}", d.display()), e))?;
        if meta.uid() != r.root_uid || meta.gid() != r.root_gid {
            std::os::unix::fs::chown(&d, Some(r.root_uid), Some(r.root_gid))
                .map_err(|e| DaemonError::io(format!("chown {}", d.display()), e))?;
        }
    }
    Ok(())
}

/// After /etc/hosts, hostname and resolv.conf are written: hand them to the remapped root.
pub fn chown_etc_files(remap: Option<&Remap>, paths: &ContainerPaths) -> Result<()> {
    let Some(r) = remap else { return Ok(()) };
    for f in [paths.hosts(), paths.hostname(), paths.resolv_conf()] {
        std::os::unix::fs::chown(&f, Some(r.root_uid), Some(r.root_gid))
            .map_err(|e| DaemonError::io(format!("chown {}", f.display()), e))?;
    }
    Ok(())
}

fn oci_map(ranges: &[IdRange]) -> Result<Vec<oci_spec::runtime::LinuxIdMapping>> {
    ranges
        .iter()
        .map(|r| {
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(r.container_id)
                .host_id(r.host_id)
                .size(r.size)
                .build()
                .map_err(|e| remap_err(format!("build id mapping: {e}")))
        })
        .collect()
}

/// Adds the namespaces berth gives a container beyond Docker's defaults: a user namespace
/// with the daemon's mappings (remapped daemon, unless `--userns host`), and a time
/// namespace of its own where the kernel has them.
pub fn apply_to_spec(
    spec: &mut oci_spec::runtime::Spec,
    remap: Option<&Remap>,
    hc: &berth_api::container::HostConfig,
) -> Result<()> {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    let ns = |t| {
        LinuxNamespaceBuilder::default()
            .typ(t)
            .build()
            .map_err(|e| remap_err(format!("build namespace: {e}")))
    };
    if let Some(r) = container_remapped(remap, hc) {
        if !namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User)
        {
            namespaces.push(ns(LinuxNamespaceType::User)?);
        }
        linux.set_uid_mappings(Some(oci_map(&r.map.uids)?));
        linux.set_gid_mappings(Some(oci_map(&r.map.gids)?));
    }
    if time_namespaces_supported()
        && !namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Time)
    {
        namespaces.push(ns(LinuxNamespaceType::Time)?);
    }
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    Ok(())
}

/// `docker info`'s SecurityOptions: Docker lists `name=userns` on a remapped daemon.
pub fn security_options(remapped: bool) -> Vec<String> {
    let mut v = vec![
        "name=seccomp,profile=builtin".to_string(),
        "name=cgroupns".to_string(),
    ];
    if remapped {
        v.push("name=userns".to_string());
    }
    v
}

/// Whether this kernel has time namespaces (Linux 5.6+ with CONFIG_TIME_NS).
pub fn time_namespaces_supported() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| Path::new("/proc/self/ns/time").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_entries_by_name_or_number_sorted() {
        let text = "# comment\nalice:300000:10\n1234:100000:65536\nbob:200000:65536\nalice:100:0\n1234:900000:5\nbad line\n";
        assert_eq!(
            parse_subid(text, Some("alice"), 1234),
            vec![(100000, 65536), (300000, 10), (900000, 5)]
        );
        assert_eq!(
            parse_subid(text, None, 1234),
            vec![(100000, 65536), (900000, 5)]
        );
        assert!(parse_subid(text, Some("carol"), 7).is_empty());
        let r = to_ranges(&[(100000, 10), (500000, 20)]);
        assert_eq!(r[1].container_id, 10);
        assert_eq!(r[1].host_id, 500000);
    }

    #[test]
    fn free_range_skips_taken_ones() {
        assert_eq!(free_range(&[], 65536), 100000);
        assert_eq!(free_range(&[(100000, 65536)], 65536), 165536);
        assert_eq!(free_range(&[(165536, 10), (100000, 65536)], 65536), 165546);
        assert_eq!(free_range(&[(0, 1000)], 65536), 100000);
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(resolve("a:b:c").is_err());
        assert!(resolve("default:x").is_err());
        assert!(resolve(":").is_err());
    }

    #[test]
    fn privileged_needs_userns_host() {
        let r = Remap {
            user: "u".into(),
            group: "g".into(),
            map: IdMap::default(),
            root_uid: 1,
            root_gid: 1,
        };
        let hc: berth_api::container::HostConfig =
            serde_json::from_str(r#"{"Privileged":true}"#).unwrap();
        let e = validate(Some(&r), &hc).unwrap_err().to_string();
        assert!(e.contains("privileged mode is incompatible"), "{e}");
        assert!(validate(None, &hc).is_ok());
        let hc: berth_api::container::HostConfig =
            serde_json::from_str(r#"{"Privileged":true,"UsernsMode":"host"}"#).unwrap();
        assert!(validate(Some(&r), &hc).is_ok());
        let hc: berth_api::container::HostConfig =
            serde_json::from_str(r#"{"UsernsMode":"private"}"#).unwrap();
        assert!(validate(None, &hc).is_err());
    }
}
