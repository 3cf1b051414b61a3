//! User and time namespaces of a container.
//!
//! User namespace: the monitor clones the child with `CLONE_NEWUSER` together with the
//! other new namespaces, so every namespace the child creates is owned by the new user
//! namespace. The monitor (real root in the parent namespace) then writes
//! `/proc/<child>/uid_map` and `gid_map` from the spec's `linux.uidMappings/gidMappings`
//! and sends `ToInit::Mapped` (crate::init_protocol) on the sync socket; the child waits for it, becomes uid/gid 0
//! of its namespace and carries on. `setgroups` stays allowed (the writer is privileged),
//! so `additionalGids` keep working.
//!
//! What changes inside a user namespace (as runc does it): device nodes cannot be made
//! (`mknod` is refused), so the host's nodes are bind-mounted; sysfs can only be mounted
//! when the network namespace is owned by the new user namespace, otherwise the host's
//! /sys is rbound; remounts must keep the flags the kernel locked on mounts that came from
//! the host (nosuid, nodev, noexec, atime).
//!
//! Time namespace: `CLONE_NEWTIME` cannot go to `clone(2)` (its bit is in the exit-signal
//! field), so the child unshares one (which applies to its future children) and then enters
//! it through `/proc/self/ns/time_for_children`, allowed while it is single-threaded.

use crate::error::RuntimeError;
use oci_spec::runtime::LinuxIdMapping;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

static IN_USERNS: AtomicBool = AtomicBool::new(false);

/// Whether this (child) process created a user namespace for the container.
pub(crate) fn in_userns() -> bool {
    IN_USERNS.load(Ordering::Relaxed)
}

pub(crate) fn set_in_userns() {
    IN_USERNS.store(true, Ordering::Relaxed);
}

/// The text of a uid_map/gid_map file.
pub(crate) fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes the child's uid_map and gid_map (from the parent, before the child goes on).
/// Each file takes one write with every line.
pub(crate) fn write_maps(
    pid: i32,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<(), RuntimeError> {
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        if maps.is_empty() {
            return Err(RuntimeError::spec(format!(
                "user namespace without {file} entries"
            )));
        }
        let path = format!("/proc/{pid}/{file}");
        let text = map_text(maps);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| RuntimeError::step(format!("write {path}"), e))?;
    }
    Ok(())
}

/// In the child, once the maps are written: become root of the new user namespace (the
/// clone left us with the host's unmapped ids) and drop supplementary groups.
pub(crate) fn become_root() -> Result<(), RuntimeError> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g)
        .map_err(|e| RuntimeError::step("setresgid 0", e))?;
    nix::unistd::setresuid(root_u, root_u, root_u)
        .map_err(|e| RuntimeError::step("setresuid 0", e))?;
    nix::unistd::setgroups(&[]).map_err(|e| RuntimeError::step("setgroups", e))?;
    Ok(())
}

/// Puts the calling (single-threaded) process into a new time namespace with zero offsets.
pub(crate) fn enter_new_time_ns() -> Result<(), RuntimeError> {
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
        libc::CLONE_NEWTIME,
    ))
    .map_err(|e| RuntimeError::step("unshare time namespace", e))?;
    let f = std::fs::File::open("/proc/self/ns/time_for_children")
        .map_err(|e| RuntimeError::step("open /proc/self/ns/time_for_children", e))?;
    crate::sys::setns(&f.as_raw_fd(), libc::CLONE_NEWTIME)
        .map_err(|e| RuntimeError::step("enter time namespace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_has_one_line_per_range() {
        let maps: Vec<LinuxIdMapping> = serde_json::from_str(
            r#"[{"containerID":0,"hostID":100000,"size":1000},{"containerID":1000,"hostID":300000,"size":64536}]"#,
        )
        .unwrap();
        assert_eq!(map_text(&maps), "0 100000 1000\n1000 300000 64536\n");
    }

    /// Creating and entering a time namespace costs microseconds: measured in a forked
    /// child (the parent of the test harness is multi-threaded).
    #[test]
    fn time_namespace_cost() {
        if !nix::unistd::Uid::effective().is_root()
            || !std::path::Path::new("/proc/self/ns/time").exists()
        {
            eprintln!("skipped: needs root and time namespaces");
            return;
        }
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only calls async-signal-safe syscalls (plus a File open and a
        // small write) and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let t = std::time::Instant::now();
                let ok = enter_new_time_ns().is_ok();
                let ns = t.elapsed().as_nanos() as u64;
                let before =
                    std::fs::read_link(format!("/proc/{}/ns/time", nix::unistd::getppid())).ok();
                let after = std::fs::read_link("/proc/self/ns/time").ok();
                let differs = ok && before.is_some() && before != after;
                let mut b = ns.to_le_bytes().to_vec();
                b.push(differs as u8);
                let _ = nix::unistd::write(&w, &b);
                crate::sys::exit_now(0);
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut b = [0u8; 9];
                let n = nix::unistd::read(r.as_raw_fd(), &mut b).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(n, 9);
                let ns = u64::from_le_bytes(b[..8].try_into().unwrap());
                assert_eq!(b[8], 1, "the child is not in a new time namespace");
                eprintln!("unshare(CLONE_NEWTIME) + setns: {} us", ns / 1000);
                assert!(ns < 50_000_000, "time namespace took {ns} ns");
            }
        }
    }
}
