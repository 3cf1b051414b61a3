//! Running a piece of work inside another network namespace.
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, and a socket stays in the
//! namespace it was created in. So work that must happen "in the container" (a netlink
//! socket, the DNS listener) runs on a short-lived thread that joins the namespace,
//! does the work and exits; the daemon's own threads never change namespace.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Runs `f` on a fresh thread that has joined the network namespace `ns`.
pub fn run_in_netns<F, R>(ns: BorrowedFd<'_>, f: F) -> io::Result<R>
where
    F: FnOnce() -> io::Result<R> + Send,
    R: Send,
{
    let raw = ns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: `raw` is a valid namespace fd borrowed for the duration of this
            // scope; setns only affects this thread, which exits when `f` returns.
            if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .map_err(|_| io::Error::other("network namespace worker panicked"))?
    })
}

/// Opens the network namespace of a running process (`/proc/<pid>/ns/net`).
pub fn open_netns_of(pid: i32) -> io::Result<OwnedFd> {
    let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    Ok(OwnedFd::from(f))
}
