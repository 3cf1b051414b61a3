//! The daemon's own directories and files, with the modes of `berth_perms`: made at start-up
//! and, for installs older than those modes, tightened once (never loosened), with one log
//! line saying what changed.
//!
//! | path | mode |
//! | --- | --- |
//! | data root | 0710 (0711 under `--userns-remap`: its remapped root walks through to `<uid>.<gid>/`) |
//! | `containers/`, `containers/<id>/` | 0710 |
//! | `containers/<id>/<id>-json.log*` | 0640 |
//! | `berth.db`, `berth.lock` | 0600 |
//! | `image/`, its layer directories (their `diff/` keeps the layer's own modes) | 0700 |
//! | `image/blobs/sha256/*` | 0600 |
//! | `volumes/`, `volumes/<name>/` | 0701 |
//! | exec root, `containers/<id>/` and `execs/<id>/` (bundles, monitor sockets) | 0700 |
//! | what bundles hold: `config.json`, `process.json`, `exit.json`, pid files, `monitor.log` | 0600 |
//! | pidfile | 0644 |
//! | API sockets | 0660, root and the `-G` group |

use crate::config::DaemonConfig;
use crate::error::{DaemonError, IoContext, Result};
use berth_perms::{Mode, Repair};
use std::path::Path;

/// The data root's mode: others may pass through only when a remapped root must.
pub fn data_root_mode(remapped: bool) -> Mode {
    if remapped {
        Mode::TRAVERSE_DIR
    } else {
        Mode::CONTAINER_DIR
    }
}

/// Makes the data root (the outer one under `--userns-remap`) with its mode. Under
/// `--userns-remap` a data root that an earlier, unremapped start left at 0710 is opened to
/// 0711 (dockerd's mode, needed by the remapped root); any other mode an administrator chose
/// stands, and the remap set-up then says what is missing.
pub fn make_data_root(path: &Path, remapped: bool) -> Result<()> {
    if let Ok(Some(t)) = berth_perms::tighten(path, data_root_mode(remapped)) {
        tracing::info!(
            "{}: mode {:o}→{:o}, so other users cannot reach berth's state",
            path.display(),
            t.before,
            t.after
        );
    }
    berth_perms::create_dir_all(path, data_root_mode(remapped))
        .ctx(|| format!("create {}", path.display()))?;
    if remapped {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .ctx(|| format!("stat {}", path.display()))?
            .permissions()
            .mode()
            & 0o7777;
        if mode == Mode::CONTAINER_DIR.bits() {
            berth_perms::set_mode(path, Mode::TRAVERSE_DIR)
                .ctx(|| format!("chmod {}", path.display()))?;
            tracing::info!(
                "{}: mode 710→711, so the remapped root can reach its <uid>.<gid> directory",
                path.display()
            );
        }
    }
    Ok(())
}

/// Creates the roots and their top directories with their modes (the data root itself is
/// made by [`make_data_root`] first).
pub fn prepare(config: &DaemonConfig) -> Result<()> {
    let dirs = [
        (config.exec_root.clone(), Mode::PRIVATE_DIR),
        (config.data_root.join("containers"), Mode::CONTAINER_DIR),
        (config.exec_root.join("containers"), Mode::PRIVATE_DIR),
        (config.exec_root.join("execs"), Mode::PRIVATE_DIR),
    ];
    for (dir, mode) in dirs {
        berth_perms::create_dir_all(&dir, mode).ctx(|| format!("create {}", dir.display()))?;
    }
    Ok(())
}

/// Writes the pidfile: readable by all, as dockerd's, writable by root only.
pub fn write_pidfile(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        berth_perms::create_dir_all(dir, Mode::PRIVATE_DIR)
            .ctx(|| format!("create {}", dir.display()))?;
    }
    berth_perms::write_file(
        path,
        std::process::id().to_string().as_bytes(),
        Mode::READABLE_FILE,
    )
    .ctx(|| format!("write pidfile {}", path.display()))
}

/// Brings state written by releases before these modes down to them; logs one line with
/// every change. Best effort: a path that cannot be changed is logged, not fatal.
pub fn repair(config: &DaemonConfig) {
    let mut r = Repair::default();
    let data = &config.data_root;
    let exec = &config.exec_root;
    // Under --userns-remap this is `<uid>.<gid>/`, 0710 as well (its group: the remapped root).
    r.tighten(data, Mode::CONTAINER_DIR);
    r.tighten(exec, Mode::PRIVATE_DIR);
    r.tighten(&data.join("berth.db"), Mode::SECRET_FILE);
    r.tighten(&data.join("berth.lock"), Mode::SECRET_FILE);
    let image = data.join("image");
    r.tighten(&image, Mode::PRIVATE_DIR);
    for layer in children(&image.join("layers")) {
        r.tighten(&layer, Mode::PRIVATE_DIR);
    }
    for blob in children(&image.join("blobs/sha256")) {
        r.tighten(&blob, Mode::SECRET_FILE);
    }
    r.tighten(&data.join("volumes"), Mode::VOLUMES_DIR);
    for vol in children(&data.join("volumes")) {
        if vol.is_dir() {
            r.tighten(&vol, Mode::VOLUMES_DIR);
        }
    }
    r.tighten(&data.join("containers"), Mode::CONTAINER_DIR);
    for dir in children(&data.join("containers")) {
        r.tighten(&dir, Mode::CONTAINER_DIR);
        for f in children(&dir) {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.contains("-json.log") {
                r.tighten(&f, Mode::LOG_FILE);
            }
        }
    }
    // Bundles of containers and of execs: their specs carry the environment.
    for kind in ["containers", "execs"] {
        r.tighten(&exec.join(kind), Mode::PRIVATE_DIR);
        for bundle in children(&exec.join(kind)) {
            r.tighten(&bundle, Mode::PRIVATE_DIR);
            for f in children(&bundle) {
                let dir = std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_dir());
                r.tighten(
                    &f,
                    if dir {
                        Mode::PRIVATE_DIR
                    } else {
                        Mode::SECRET_FILE
                    },
                );
            }
        }
    }
    if !r.changed().is_empty() {
        tracing::info!(
            "tightened the modes of {} paths that other users could read (state of an older berth): {}",
            r.changed().len(),
            r.changed().join(", ")
        );
    }
    for f in r.failed() {
        tracing::warn!("could not tighten the mode of {f}");
    }
}

fn children(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The group of the API sockets: `-G` by name or number. Without `-G`, a group named
/// `berth` if the host has one, else root's; a named group that does not exist is an
/// error, as in dockerd.
pub fn socket_group(flag: Option<&str>) -> Result<u32> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let (name, explicit) = match flag {
        Some(g) if !g.is_empty() => (g, true),
        _ => (DEFAULT_SOCKET_GROUP, false),
    };
    if let Some(gid) = lookup_group(&groups, name) {
        return Ok(gid);
    }
    if let (true, Ok(gid)) = (explicit, name.parse::<u32>()) {
        tracing::warn!("could not find GID {gid}");
        return Ok(gid);
    }
    if explicit {
        return Err(DaemonError::Other(format!("group {name} not found")));
    }
    Ok(0)
}

/// The group that may use the API socket when `-G` is not given (dockerd's is `docker`).
pub const DEFAULT_SOCKET_GROUP: &str = "berth";

fn lookup_group(groups: &str, name: &str) -> Option<u32> {
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        let (n, _, gid) = (f.next()?, f.next()?, f.next()?.trim().parse::<u32>().ok()?);
        (n == name || gid.to_string() == name).then_some(gid)
    })
}

/// Gives a freshly bound API socket its group and mode.
pub fn secure_socket(path: &Path, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(0), Some(gid))
        .ctx(|| format!("chown {}", path.display()))?;
    berth_perms::set_mode(path, Mode::SOCKET).ctx(|| format!("chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_found_by_name_or_number() {
        let g = "root:x:0:\nnogroup:x:65534:\nberth:x:998:alice,bob\n";
        assert_eq!(lookup_group(g, "berth"), Some(998));
        assert_eq!(lookup_group(g, "65534"), Some(65534));
        assert_eq!(lookup_group(g, "docker"), None);
        assert_eq!(lookup_group("garbage\n::\n", "x"), None);
    }
}
