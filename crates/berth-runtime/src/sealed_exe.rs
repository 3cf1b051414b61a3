//! The runtime binary as a sealed in-memory copy (CVE-2019-5736).
//!
//! Every process that enters a container before its `execve` (the init child, and above all
//! the `docker exec` child that joins a running container's pid namespace) is a fork of the
//! monitor, so its `/proc/<pid>/exe` is the monitor's executable. A container that can open
//! that link for writing (directly, or by making its own `/bin/sh` a `#!/proc/self/exe`
//! script so that *it* runs the runtime binary, then reopening `/proc/<pid>/exe` through an
//! `O_PATH` fd once the process is gone) overwrites the host binary.
//!
//! So monitors never run from the host file: the daemon makes ONE sealed `memfd` copy of its
//! executable at start-up (`F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`) and
//! spawns every monitor from it (`/proc/self/fd/N`), so there is no copy per container. A
//! monitor started any other way copies itself once and re-executes from the copy before it
//! does anything else ([`ensure_running_sealed`]). Children are also made non-dumpable
//! until they exec (see `container::create`), so no container process may even open their
//! `/proc/<pid>/exe` while they are still ours.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// `MFD_EXEC` (Linux 6.3): ask for an executable memfd even where `vm.memfd_noexec` makes
/// memfds non-executable by default. Older kernels reject it; we then retry without.
const MFD_EXEC: libc::c_uint = 0x0010;

/// The seals that make the copy immutable: no writes, no resizing, no removing seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A sealed, executable, in-memory copy of the running binary.
#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
}

impl SealedExe {
    /// Copies `/proc/self/exe` into a new memfd and seals it.
    pub fn of_self() -> io::Result<SealedExe> {
        let mut src = File::open("/proc/self/exe")
            .map_err(|e| io::Error::new(e.kind(), format!("open /proc/self/exe: {e}")))?;
        let fd = memfd("berth")?;
        let mut dst = File::from(fd);
        io::copy(&mut src, &mut dst)
            .map_err(|e| io::Error::new(e.kind(), format!("copy binary into memfd: {e}")))?;
        // SAFETY: fcntl with integer arguments on a descriptor we own.
        if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("seal memfd: {e}")));
        }
        Ok(SealedExe {
            fd: OwnedFd::from(dst),
        })
    }

    /// The path to execute the copy by, valid in this process and in any child forked from
    /// it before it execs (the descriptor is close-on-exec, which an ELF exec tolerates).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

impl AsRawFd for SealedExe {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn memfd(name: &str) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: valid C string; memfd_create returns a new descriptor or -1.
        let r = unsafe { libc::memfd_create(c.as_ptr(), flags) };
        if r >= 0 {
            // SAFETY: the kernel just gave us this descriptor.
            return Ok(unsafe { OwnedFd::from_raw_fd(r) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::new(e.kind(), format!("memfd_create: {e}")));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "memfd_create: sealing not supported",
    ))
}

/// Whether `fd` is a file that can no longer be written or resized.
pub fn is_sealed(fd: &impl AsRawFd) -> bool {
    // SAFETY: fcntl with integer arguments; returns -1 for files that are not memfds.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Whether this process runs from a sealed copy of its binary.
/// Environment variable that switches the sealed copy off: monitors then run from the host
/// binary, as runc did before CVE-2019-5736 was fixed. It exists so a test can show the
/// attack succeeding against a throw-away copy of the binary (like runc's `RUNC_DMZ`
/// switch); never set it anywhere else.
pub const UNSAFE_HOST_BINARY_ENV: &str = "BERTH_UNSAFE_RUNTIME_FROM_HOST_BINARY";

/// Whether [`UNSAFE_HOST_BINARY_ENV`] is set to `1`.
pub fn protection_disabled() -> bool {
    std::env::var_os(UNSAFE_HOST_BINARY_ENV).is_some_and(|v| v == "1")
}

pub fn running_sealed() -> bool {
    File::open("/proc/self/exe").is_ok_and(|f| is_sealed(&f))
}

/// Makes sure this process runs from a sealed copy of its binary: returns at once when it
/// already does (a monitor the daemon spawned from its cached copy: one open and one
/// fcntl), otherwise copies the binary into a sealed memfd and re-executes itself from it
/// with the same arguments and environment. Only returns `Err` when that is impossible;
/// the caller must then refuse to touch a container.
pub fn ensure_running_sealed() -> io::Result<()> {
    if running_sealed() || protection_disabled() {
        return Ok(());
    }
    let exe = SealedExe::of_self()?;
    let to_c = |v: OsString| {
        CString::new(v.into_vec()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let args: Vec<CString> = std::env::args_os().map(to_c).collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|a| a.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings that live
    // until the call returns (it only returns on failure; the kernel never writes through
    // them); "" with AT_EMPTY_PATH executes the descriptor itself.
    unsafe {
        libc::execveat(
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    let e = io::Error::last_os_error();
    Err(io::Error::new(
        e.kind(),
        format!("re-exec from sealed copy: {e}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn copy_is_sealed_and_identical() {
        let exe = SealedExe::of_self().unwrap();
        assert!(is_sealed(&exe));
        let mut ours = Vec::new();
        File::open("/proc/self/exe")
            .unwrap()
            .read_to_end(&mut ours)
            .unwrap();
        let mut copy = Vec::new();
        File::open(exe.path())
            .unwrap()
            .read_to_end(&mut copy)
            .unwrap();
        assert_eq!(ours.len(), copy.len());
        assert!(ours == copy);
        // Reopened for writing through /proc (what an attacker would do): no byte lands.
        if let Ok(mut w) = File::options().write(true).open(exe.path()) {
            assert!(w.write(b"#!/bin/sh\n").is_err());
            assert!(w.set_len(0).is_err());
        }
        // The test binary itself is an ordinary file.
        assert!(!running_sealed());
    }
}
