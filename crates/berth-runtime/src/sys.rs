//! Thin wrappers over raw syscalls that nix does not cover; each `unsafe` is here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) fn cstr(p: impl AsRef<Path>) -> io::Result<CString> {
    CString::new(p.as_ref().as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// `clone(2)` without a new stack: behaves like `fork()` plus namespace flags.
///
/// Only called from the single-threaded monitor, so the child owns a consistent heap.
pub(crate) fn clone_fork(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: raw clone with a null stack duplicates the calling (single-threaded) process
    // like fork(); no other thread can hold a lock across it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)`; `resolve` takes `libc::RESOLVE_*` flags.
pub(crate) fn openat2(
    dirfd: RawFd,
    path: &Path,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `c` is a valid C string and `how` a properly sized open_how struct.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel returned a new descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) && e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE)` setting read-only on the mount at
/// `fd` and every mount below it (Linux ≥ 5.12): a plain read-only remount leaves
/// submounts writable.
pub(crate) fn make_read_only_recursively(fd: RawFd) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    loop {
        // SAFETY: an empty C string literal and a properly sized mount_attr struct.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                fd,
                c"".as_ptr(),
                (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether the kernel has `mount_setattr(2)` (recursive read-only mounts, `rro`).
pub fn supports_recursive_read_only() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // SAFETY: a null attr with size 0 on an invalid fd only probes for the syscall;
        // the kernel reads nothing and changes nothing.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                libc::AT_EMPTY_PATH as libc::c_uint,
                std::ptr::null::<MountAttr>(),
                0usize,
            )
        };
        r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
    })
}

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings `lo` of the calling process's network namespace up: two ioctls on a datagram
/// socket, cheaper than any netlink round trip from the daemon. A container with a
/// namespace of its own and no endpoint (`--network none`) still has 127.0.0.1.
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned to us.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of a properly sized ifreq.
    if unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfReqFlags,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    req.flags |= libc::IFF_UP as libc::c_short;
    // SAFETY: as above; SIOCSIFFLAGS only reads the struct.
    if unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const IfReqFlags,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Rewrites this process's command line (`/proc/self/cmdline`, what `ps` shows) in place
/// and its name: the `--init` process is a fork of the monitor, whose own arguments name
/// host paths. Truncated to the original length (growing it needs CAP_SYS_RESOURCE).
pub(crate) fn set_process_title(args: &[&[u8]], name: &[u8]) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command's closing parenthesis; arg_start and arg_end are the 48th
    // and 49th fields of the line (the 46th and 47th after it).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (Some(start), Some(end)) = (
        f.get(45).and_then(|v| v.parse::<usize>().ok()),
        f.get(46).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        return;
    };
    if end <= start + 1 {
        return;
    }
    let len = end - start;
    let mut text = args.join(&0u8);
    text.truncate(len - 1);
    text.resize(len, 0);
    // SAFETY: [arg_start, arg_end) is this process's own argument area on its initial
    // stack, mapped writable; nothing else reads it in the init process.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, len) };
    let mut comm = name.to_vec();
    comm.truncate(15);
    comm.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// `prctl(PR_SET_DUMPABLE)`: a non-dumpable process's /proc files belong to root and
/// ptrace access checks (open of /proc/<pid>/exe, /fd, /mem) need CAP_SYS_PTRACE.
pub(crate) fn set_dumpable(on: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `pivot_root(2)`.
pub(crate) fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let a = cstr(new_root)?;
    let b = cstr(put_old)?;
    // SAFETY: two valid C strings.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Marks every descriptor ≥ `from` close-on-exec, so nothing the monitor (or the daemon
/// that spawned it) leaked reaches the container process.
pub(crate) fn cloexec_from(from: u32) -> io::Result<()> {
    // SAFETY: close_range with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    // Older kernels: walk /proc/self/fd.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &RawFd| fd >= from as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on a descriptor number is harmless even if stale.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// `setns(2)` on an open namespace descriptor.
pub(crate) fn setns(fd: &impl AsRawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we hold.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends one descriptor plus a tag byte over a unix socket (SCM_RIGHTS).
pub(crate) fn send_fd(sock: RawFd, tag: u8, fd: RawFd) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [io::IoSlice::new(std::slice::from_ref(&tag))];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)?;
    Ok(())
}

/// Receives one message from a SEQPACKET socket; returns its bytes and an attached fd.
pub(crate) fn recv_msg(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(v) = c {
            for f in v {
                // SAFETY: descriptors received via SCM_RIGHTS are new and ours.
                let o = unsafe { OwnedFd::from_raw_fd(f) };
                if fd.is_none() {
                    fd = Some(o);
                }
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// Writes all bytes, retrying on EINTR (for raw descriptors in the child).
pub(crate) fn write_all_fd(fd: RawFd, mut b: &[u8]) -> io::Result<()> {
    while !b.is_empty() {
        // SAFETY: writing from a valid slice.
        let r = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[r as usize..];
    }
    Ok(())
}

/// Leaves the process immediately (no atexit handlers, no unwinding): the right exit for a
/// forked child that must not run the parent's cleanup.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Returns freed heap memory to the kernel. Long-lived processes (the daemon after an
/// image import or a container removal) call it so their RSS follows what they hold.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases memory that is already free; it touches no live
    // allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Gives back memory a process touched but does not need while idle: the monitor's RSS
/// is paid once per container and most of it is code and data used once (spec parsing,
/// clone, mounts); the daemon calls it after a quiet spell. Afterwards `MADV_RANDOM`
/// keeps the kernel from mapping 64 KiB around every code page that faults back in.
/// Read-only file-backed pages (code, rodata) are dropped from our page tables with
/// `MADV_DONTNEED` and come back from the page cache on demand; mappings holding private
/// copies (relocated RELRO data, `Anonymous` > 0) are left alone, since dropping them would
/// lose the copies. Freed heap is returned with `malloc_trim`.
pub fn release_idle_memory() {
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                let perms = f.next().unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                cur = ((perms == "r-xp" || perms == "r--p") && path.starts_with('/'))
                    .then_some((a, b));
                continue;
            }
        }
        if first == "Anonymous:" {
            if let Some(r) = cur.take() {
                if f.next() == Some("0") {
                    ranges.push(r);
                }
            }
        }
    }
    drop(smaps);
    for (a, b) in ranges {
        // SAFETY: the range is a read-only, file-backed private mapping with no private
        // (anonymous) pages, so discarding its pages only forces a re-read from the file.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM);
        }
    }
}
