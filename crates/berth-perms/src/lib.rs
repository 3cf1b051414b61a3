//! Who may read berth's state: the mode of every directory and file berth keeps.
//!
//! Containers' environments (secrets), logs, bundles, layers and volumes live under the data
//! root and the exec root. Other users of the host must not read, list or connect to any of
//! it, as with dockerd (`/var/lib/docker` 0711 or 0710 by parts, `config.v2.json` 0600, log
//! files 0640, `/run/docker` 0700). Every place that creates state takes its mode from here
//! and sets it explicitly: the umask only ever narrows a mode, and a process's umask is not a
//! security decision berth wants to inherit.
//!
//! Existing installs are brought in line with [`tighten`], which only ever removes bits.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of one kind of state: what it is for decides who may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// Root only: the exec root (bundles, monitor sockets), the image store, build and
    /// temporary dirs.
    pub const PRIVATE_DIR: Mode = Mode(0o700);
    /// Root, and the group for traversal only: the data root and `containers/` (the group is
    /// the remapped root's under `--userns-remap`, as dockerd's `<uid>.<gid>` dirs).
    pub const CONTAINER_DIR: Mode = Mode(0o710);
    /// Traversal for everyone, listing for no one: the data root under `--userns-remap`,
    /// whose remapped root must walk through it to `<uid>.<gid>/` (dockerd's 0711).
    pub const TRAVERSE_DIR: Mode = Mode(0o711);
    /// `volumes/` and each volume's directory: others may pass through to a `_data` that a
    /// remapped or non-root user mounts (dockerd's 0701), never list the names.
    pub const VOLUMES_DIR: Mode = Mode(0o701);
    /// Anything that can hold a secret: the database (containers' environments), bundles'
    /// `config.json`, exit records, the lock.
    pub const SECRET_FILE: Mode = Mode(0o600);
    /// Container logs: root and its group (adm-style readers), as dockerd's 0640.
    pub const LOG_FILE: Mode = Mode(0o640);
    /// Files a container's non-root users must read through their bind mounts: `hosts`,
    /// `hostname`, `resolv.conf`, and the pidfile. Their directory keeps others out.
    pub const READABLE_FILE: Mode = Mode(0o644);
    /// API sockets: root and the socket's group (`-G`), as dockerd's 0660.
    pub const SOCKET: Mode = Mode(0o660);

    /// The permission bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Sets `path`'s mode exactly (no umask).
pub fn set_mode(path: &Path, mode: Mode) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(mode.0))
}

/// Creates the directory `path` (not its parents) with `mode`, or brings an existing one's
/// mode down to it. Parents must exist.
pub fn create_dir(path: &Path, mode: Mode) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(mode.0).create(path) {
        Ok(()) => set_mode(path, mode),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            tighten(path, mode).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` and any missing parents with `mode` (the umask may narrow the parents'),
/// then gives `path` itself `mode` as [`create_dir`] does. Existing parents are left alone.
pub fn create_dir_all(path: &Path, mode: Mode) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode.0)
                .create(parent)?;
        }
    }
    create_dir(path, mode)
}

/// Opening options for a new state file of `mode`; [`create_file`] and [`write_file`] are
/// the usual ways in. The umask may narrow the mode at creation, so callers that need the
/// exact bits call [`set_mode`] after (the helpers here do).
pub fn open_options(mode: Mode) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(mode.0);
    o
}

/// Creates (or truncates) `path` for writing with exactly `mode`.
pub fn create_file(path: &Path, mode: Mode) -> io::Result<File> {
    let f = open_options(mode)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(mode.0))?;
    Ok(f)
}

/// Opens `path` for appending, creating it with exactly `mode`; an existing file's mode is
/// brought down to `mode` (a log file from an older release keeps its content).
pub fn append_file(path: &Path, mode: Mode) -> io::Result<File> {
    let f = open_options(mode).create(true).append(true).open(path)?;
    tighten_file(&f, mode)?;
    Ok(f)
}

/// Writes `bytes` to `path` (created or truncated) with exactly `mode`.
pub fn write_file(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    create_file(path, mode)?.write_all(bytes)
}

/// What [`tighten`] changed: the path's mode before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tightened {
    pub before: u32,
    pub after: u32,
}

/// Removes from `path`'s permission bits every bit `mode` lacks; never adds one (an
/// administrator's tighter choice stands). Special bits (setuid, setgid, sticky) are kept
/// only when `mode` has them. Returns what changed, if anything. Symlinks are not followed.
pub fn tighten(path: &Path, mode: Mode) -> io::Result<Option<Tightened>> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(None);
    }
    let before = meta.permissions().mode() & 0o7777;
    let after = before & mode.0;
    if after == before {
        return Ok(None);
    }
    set_mode(path, Mode(after))?;
    Ok(Some(Tightened { before, after }))
}

fn tighten_file(f: &File, mode: Mode) -> io::Result<()> {
    let before = f.metadata()?.permissions().mode() & 0o7777;
    if before & !mode.0 != 0 {
        f.set_permissions(Permissions::from_mode(before & mode.0))?;
    }
    Ok(())
}

/// Collects the changes of one start-up pass over existing state, for one log line.
#[derive(Debug, Default)]
pub struct Repair {
    changed: Vec<String>,
    failed: Vec<String>,
}

impl Repair {
    /// Tightens `path` to `mode` if it exists, remembering what changed or failed.
    pub fn tighten(&mut self, path: &Path, mode: Mode) {
        match tighten(path, mode) {
            Ok(Some(t)) => {
                self.changed
                    .push(format!("{} {:o}→{:o}", path.display(), t.before, t.after))
            }
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => self.failed.push(format!("{}: {e}", path.display())),
        }
    }

    /// The paths whose modes were tightened, as `path old→new`.
    pub fn changed(&self) -> &[String] {
        &self.changed
    }

    /// The paths that could not be tightened, with the error.
    pub fn failed(&self) -> &[String] {
        &self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode_of(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_dirs_and_files_get_exactly_their_mode() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b/vol");
        create_dir_all(&d, Mode::VOLUMES_DIR).unwrap();
        assert_eq!(mode_of(&d), 0o701);
        assert!(t.path().join("a/b").is_dir());
        let f = d.join("db");
        write_file(&f, b"secret", Mode::SECRET_FILE).unwrap();
        assert_eq!(mode_of(&f), 0o600);
        let log = d.join("log");
        append_file(&log, Mode::LOG_FILE).unwrap();
        assert_eq!(mode_of(&log), 0o640);
    }

    #[test]
    fn existing_state_is_tightened_never_loosened() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("containers");
        std::fs::create_dir(&d).unwrap();
        set_mode(&d, Mode(0o755)).unwrap();
        create_dir(&d, Mode::CONTAINER_DIR).unwrap();
        assert_eq!(mode_of(&d), 0o710);
        set_mode(&d, Mode(0o700)).unwrap();
        create_dir(&d, Mode::CONTAINER_DIR).unwrap();
        assert_eq!(mode_of(&d), 0o700, "a tighter choice stands");

        let log = d.join("c-json.log");
        std::fs::write(&log, "old line\n").unwrap();
        set_mode(&log, Mode(0o644)).unwrap();
        let mut f = append_file(&log, Mode::LOG_FILE).unwrap();
        f.write_all(b"new line\n").unwrap();
        assert_eq!(mode_of(&log), 0o640);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "old line\nnew line\n"
        );

        let mut r = Repair::default();
        set_mode(&log, Mode(0o4666)).unwrap();
        r.tighten(&log, Mode::SECRET_FILE);
        r.tighten(&d.join("missing"), Mode::SECRET_FILE);
        assert_eq!(mode_of(&log), 0o600);
        assert_eq!(r.changed().len(), 1, "{:?}", r.changed());
        assert!(r.changed()[0].ends_with("4666→600"), "{:?}", r.changed());
        assert!(r.failed().is_empty());
    }

    #[test]
    fn symlinks_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, "").unwrap();
        set_mode(&target, Mode(0o644)).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(tighten(&link, Mode::SECRET_FILE).unwrap(), None);
        assert_eq!(mode_of(&target), 0o644);
    }
}
