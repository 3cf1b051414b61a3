//! Creating the container's first process (and exec'd processes) from the monitor.
//!
//! The monitor clones a child into new namespaces; the child sets up the rootfs, drops
//! privileges, reports "ready" on a SEQPACKET socketpair and waits for "go" before it
//! execs. Errors are sent back on the same socket so they reach the daemon as Docker's
//! messages (`exec: "x": executable file not found in $PATH`, exit code 127/126).

use crate::caps;
use crate::cgroups::Cgroup;
use crate::error::RuntimeError;
use crate::init_protocol::{FromInit, ToInit};
use crate::rootfs;
use crate::sys;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Named steps and how long each took (µs), for the daemon's phase trace: the monitor's,
/// `create`'s and the container init's.
#[derive(Debug, Default)]
pub(crate) struct Laps {
    pub steps: Vec<(String, u64)>,
    clock: Option<std::time::Instant>,
}

impl Laps {
    pub const fn new() -> Laps {
        Laps {
            steps: Vec::new(),
            clock: None,
        }
    }

    /// Laps whose first step begins now.
    pub fn started() -> Laps {
        Laps {
            steps: Vec::new(),
            clock: Some(std::time::Instant::now()),
        }
    }

    /// Ends the current step, named `name` (without [`Laps::started`], the first step
    /// begins at the first call).
    pub fn lap(&mut self, name: &str) {
        let now = std::time::Instant::now();
        let us = self
            .clock
            .map_or(0, |t| now.duration_since(t).as_micros() as u64);
        self.steps.push((name.to_string(), us));
        self.clock = Some(now);
    }
}

/// The container init's steps, sent in its `FromInit::Ready`. Only the forked
/// child (one thread) touches it.
static INIT_LAPS: std::sync::Mutex<Laps> = std::sync::Mutex::new(Laps::new());

/// Ends the init's current setup step, named `name`.
fn init_lap(name: &'static str) {
    INIT_LAPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .lap(name);
}

/// Default PATH when the process env has none (Docker's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the container could not be created or its process not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    /// Docker-style message.
    pub message: String,
    /// Exit code Docker records (127 not found, 126 not executable, 1 otherwise).
    pub exit_code: i32,
}

impl StartError {
    fn new(message: impl Into<String>, exit_code: i32) -> Self {
        StartError {
            message: message.into(),
            exit_code,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn fail(msg: impl std::fmt::Display) -> StartError {
    StartError::new(go_errno_text(&msg.to_string()), 1)
}

/// Rust's `No such file or directory (os error 2)` as Go (runc, dockerd) words it:
/// `no such file or directory`. Clients and users match these texts.
fn go_errno_text(msg: &str) -> String {
    let mut out = msg.to_string();
    while let Some(at) = out.find(" (os error ") {
        let tail = &out[at + " (os error ".len()..];
        let Some(end) = tail.find(')') else { break };
        let Ok(code) = tail[..end].parse::<i32>() else {
            break;
        };
        let desc = nix::errno::Errno::from_raw(code).desc();
        let cut_end = at + " (os error ".len() + end + 1;
        if out[..at].ends_with(desc) {
            let start = at - desc.len();
            let mut lower = desc.to_string();
            if let Some(first) = lower.get_mut(0..1) {
                first.make_ascii_lowercase();
            }
            out.replace_range(start..cut_end, &lower);
        } else {
            out.replace_range(at..cut_end, "");
        }
    }
    out
}

/// Descriptors the child uses as its stdio when there is no tty.
pub(crate) struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// What the monitor holds for a created (not yet started) process.
pub(crate) struct Created {
    pub pid: i32,
    /// The init's end of the start handshake; `None` when an OCI runtime made it.
    pub sync: Option<OwnedFd>,
    pub pty_master: Option<OwnedFd>,
    /// Microseconds of the steps of `create`, for the daemon's phase trace.
    pub phases: Vec<(String, u64)>,
    /// Those of the init's own setup (inside `create.clone_and_init_setup`).
    pub init_phases: Vec<(String, u64)>,
}

/// How the child joins or creates namespaces.
pub(crate) enum Mode<'a> {
    /// A new container from a bundle.
    Init {
        spec: &'a Spec,
        rootfs: PathBuf,
        init: bool,
    },
    /// A process joining a running container (`docker exec`).
    Exec {
        process: &'a Process,
        target_pid: i32,
        /// The container's seccomp filter, applied to the exec'd process as well.
        seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    },
}

fn ns_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// Namespace files of a running process, opened before any `setns` (exec mode).
struct JoinList {
    fds: Vec<(OwnedFd, libc::c_int)>,
}

fn open_target_namespaces(pid: i32) -> Result<(Option<OwnedFd>, JoinList), StartError> {
    let mut fds = Vec::new();
    let mut pidns = None;
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("time", libc::CLONE_NEWTIME),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("net", libc::CLONE_NEWNET),
        ("pid", libc::CLONE_NEWPID),
        ("mnt", libc::CLONE_NEWNS),
    ] {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        let same = match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => rootfs::same_file(&a, &b),
            (Err(e), _) => {
                if e.kind() == io::ErrorKind::NotFound && (name == "user" || name == "time") {
                    true
                } else {
                    return Err(fail(format!("open {theirs}: {e}")));
                }
            }
            _ => true,
        };
        if same {
            continue;
        }
        let f = File::open(&theirs).map_err(|e| fail(format!("open {theirs}: {e}")))?;
        if flag == libc::CLONE_NEWPID {
            pidns = Some(OwnedFd::from(f));
        } else {
            fds.push((OwnedFd::from(f), flag));
        }
    }
    Ok((pidns, JoinList { fds }))
}

/// Named steps and their µs, for the phase trace.
type Steps = Vec<(String, u64)>;

/// The uid and gid maps of a new user namespace.
type IdMaps = (
    Vec<oci_spec::runtime::LinuxIdMapping>,
    Vec<oci_spec::runtime::LinuxIdMapping>,
);

/// The namespaces of a new process: what `clone` makes, what the child joins, what it
/// unshares after the clone, and the id maps of a new user namespace.
struct NamespacePlan {
    clone_flags: libc::c_int,
    join: JoinList,
    unshare_cgroup: bool,
    unshare_time: bool,
    id_maps: Option<IdMaps>,
}

/// Opens what the process joins and decides what it makes; the pid namespace (and, with a
/// new user namespace, those it owns) are joined by the monitor itself, as they apply to
/// its children.
fn plan_namespaces(mode: &Mode<'_>) -> Result<NamespacePlan, StartError> {
    let mut flags = 0;
    let mut join = JoinList { fds: Vec::new() };
    let mut unshare_cgroup = false;
    let mut unshare_time = false;
    let mut id_maps = None;
    match mode {
        Mode::Init { spec, .. } => {
            let linux = spec.linux().as_ref();
            let namespaces = linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
            let new_userns = namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
            if new_userns {
                id_maps = Some((
                    linux
                        .and_then(|l| l.uid_mappings().clone())
                        .unwrap_or_default(),
                    linux
                        .and_then(|l| l.gid_mappings().clone())
                        .unwrap_or_default(),
                ));
            }
            for ns in namespaces {
                let flag = ns_flag(ns.typ());
                match ns.path() {
                    Some(p) => {
                        let f = File::open(p)
                            .map_err(|e| fail(format!("open namespace {}: {e}", p.display())))?;
                        if flag == libc::CLONE_NEWPID
                            || (new_userns
                                && matches!(
                                    flag,
                                    libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS
                                ))
                        {
                            // The pid namespace applies to children: join it here. With a
                            // new user namespace the child could no longer enter namespaces
                            // owned by ours (runc joins them before unsharing the user
                            // namespace): the monitor joins them and the child inherits them.
                            sys::setns(&f, flag)
                                .map_err(|e| fail(format!("setns {}: {e}", p.display())))?;
                        } else if new_userns {
                            return Err(fail(format!(
                                "joining the namespace {} is not supported together with a new user namespace",
                                p.display()
                            )));
                        } else {
                            join.fds.push((OwnedFd::from(f), flag));
                        }
                    }
                    None if flag == libc::CLONE_NEWCGROUP => unshare_cgroup = true,
                    None if flag == libc::CLONE_NEWTIME => unshare_time = true,
                    None => flags |= flag,
                }
            }
        }
        Mode::Exec { target_pid, .. } => {
            let (pidns, list) = open_target_namespaces(*target_pid)?;
            if let Some(p) = pidns {
                sys::setns(&p, libc::CLONE_NEWPID).map_err(|e| fail(format!("setns pid: {e}")))?;
            }
            join = list;
        }
    }
    Ok(NamespacePlan {
        clone_flags: flags,
        join,
        unshare_cgroup,
        unshare_time,
        id_maps,
    })
}

/// The cgroup files the child writes itself into: `(file, path, required)`.
type CgroupFiles = Vec<(File, PathBuf, bool)>;

/// Opens the cgroup files of the container's cgroup (required) and of the joined
/// process's (best effort).
fn open_cgroup_files(
    cgroup: Option<&Cgroup>,
    extra_cgroup_dirs: &[PathBuf],
) -> Result<CgroupFiles, StartError> {
    // The child moves itself into its cgroups: a single thread writing "0" to a v1
    // `tasks` file skips the global threadgroup lock that a pid written to `cgroup.procs`
    // takes, and that lock waits for an RCU grace period (5-20 ms here) on every start.
    let mut cgroup_dirs: Vec<PathBuf> = cgroup.map(|cg| cg.dirs()).unwrap_or_default();
    cgroup_dirs.extend(extra_cgroup_dirs.iter().cloned());
    // Opened here, by the monitor: the kernel checks a cgroup migration against the
    // credentials of whoever opened the file, so a child already inside a new user
    // namespace (no longer host root) can still move itself.
    let mut cgroup_files: CgroupFiles = Vec::new();
    for d in cgroup_dirs {
        let tasks = d.join("tasks");
        let (file, required) = if tasks.exists() {
            (tasks, true)
        } else {
            (d.join("cgroup.procs"), cgroup.is_some())
        };
        match File::options().write(true).open(&file) {
            Ok(f) => cgroup_files.push((f, file, required)),
            Err(e) if required => return Err(fail(format!("join cgroup {}: {e}", file.display()))),
            Err(_) => {}
        }
    }
    Ok(cgroup_files)
}

/// Creates the process: clone, cgroup join, wait until the child reports ready.
pub(crate) fn create(
    mode: Mode<'_>,
    cgroup: Option<&Cgroup>,
    extra_cgroup_dirs: &[PathBuf],
    stdio: ChildStdio,
    tty: bool,
) -> Result<Created, StartError> {
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| fail(format!("socketpair: {e}")))?;
    let NamespacePlan {
        clone_flags: flags,
        join,
        unshare_cgroup,
        unshare_time,
        id_maps,
    } = plan_namespaces(&mode)?;
    let cgroup_files = open_cgroup_files(cgroup, extra_cgroup_dirs)?;
    let userns = id_maps.is_some();

    let mut laps = Laps::started();
    laps.lap("create.namespaces_and_cgroup_files");
    crate::seccomp::prepare(&mode).map_err(fail)?;
    laps.lap("create.seccomp_compile");
    // Non-dumpable until execve (which resets it): a container process cannot open the
    // child's /proc/<pid>/exe, fds, mem or environ while it is still ours, even once the
    // child has dropped to the container's capabilities (CVE-2019-5736). Set here, before
    // the clone, so the child is never visible in a joined pid namespace without it.
    sys::set_dumpable(false).map_err(|e| fail(format!("prctl(PR_SET_DUMPABLE): {e}")))?;
    let pid = sys::clone_fork(flags).map_err(|e| fail(format!("clone: {e}")))?;
    if pid == 0 {
        drop(parent_sock);
        let sock = child_sock.as_raw_fd();
        let r = join_cgroups(&cgroup_files)
            .and_then(|()| {
                drop(cgroup_files);
                if userns {
                    wait_for_maps(sock)?;
                }
                if unshare_time {
                    crate::userns::enter_new_time_ns().map_err(fail)?;
                }
                Ok(())
            })
            .and_then(|()| child(&mode, sock, join, unshare_cgroup, stdio, tty));
        let e = match r {
            Ok(never) => match never {},
            Err(e) => e,
        };
        send_error(sock, &e);
        sys::exit_now(e.exit_code);
    }
    drop(child_sock);
    drop(stdio);
    drop(join);
    drop(cgroup_files);

    let abort = |e: StartError| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    let (pty_master, init_laps) =
        wait_until_ready(parent_sock.as_raw_fd(), pid, id_maps.as_ref()).map_err(abort)?;
    laps.lap("create.clone_and_init_setup");
    Ok(Created {
        pid,
        sync: Some(parent_sock),
        pty_master,
        phases: laps.steps,
        init_phases: init_laps,
    })
}

/// In the monitor, after the clone: writes the id maps of a new user namespace, then takes
/// the child's messages until it is ready (its pty master on the way) or failed.
fn wait_until_ready(
    sock: RawFd,
    pid: i32,
    id_maps: Option<&IdMaps>,
) -> Result<(Option<OwnedFd>, Steps), StartError> {
    if let Some((uids, gids)) = id_maps {
        crate::userns::write_maps(pid, uids, gids)
            .and_then(|()| {
                send(sock, &ToInit::Mapped.encode())
                    .map_err(|e| RuntimeError::step("sync with container init", e))
            })
            .map_err(fail)?;
    }
    let mut pty_master = None;
    let mut buf = [0u8; 4096];
    loop {
        let (n, fd) = sys::recv_msg(sock, &mut buf)
            .map_err(|e| fail(format!("read from container init: {e}")))?;
        match FromInit::decode(&buf[..n]) {
            Some(FromInit::Pty) => pty_master = fd,
            Some(FromInit::Ready(steps)) => return Ok((pty_master, steps)),
            Some(FromInit::Error(e)) => return Err(e),
            None => return Err(fail("container init exited during setup")),
        }
    }
}

fn send(sock: RawFd, b: &[u8]) -> io::Result<()> {
    sys::write_all_fd(sock, b)
}

fn send_error(sock: RawFd, e: &StartError) {
    let _ = send(sock, &FromInit::Error(e.clone()).encode());
}

enum Never {}

/// In the child, before any namespace changes: joins each cgroup by writing "0" (this
/// thread) to the files the monitor opened. `required` files must succeed (the container's
/// own cgroup); the others are best effort (an exec joining hierarchies it may not be able
/// to enter).
fn join_cgroups(files: &[(File, PathBuf, bool)]) -> Result<(), StartError> {
    use std::io::Write;
    for (mut file, path, required) in files.iter().map(|(f, p, r)| (f, p, *r)) {
        if let Err(e) = file.write_all(b"0") {
            if required {
                return Err(fail(format!("join cgroup {}: {e}", path.display())));
            }
        }
    }
    Ok(())
}

/// In a child cloned into a new user namespace: waits until the monitor wrote the id maps,
/// then becomes root of that namespace.
fn wait_for_maps(sock: RawFd) -> Result<(), StartError> {
    let mut b = [0u8; 16];
    match sys::recv_msg(sock, &mut b) {
        Ok((n, _)) if ToInit::decode(&b[..n]) == Some(ToInit::Mapped) => {}
        _ => sys::exit_now(1),
    }
    crate::userns::become_root().map_err(fail)?;
    crate::userns::set_in_userns();
    Ok(())
}

/// Everything the child does between clone and execve.
fn child(
    mode: &Mode<'_>,
    sock: RawFd,
    join: JoinList,
    unshare_cgroup: bool,
    stdio: ChildStdio,
    tty: bool,
) -> Result<Never, StartError> {
    init_lap("init.start");
    reset_signals();
    // Until execve, `docker top` or a process joining the container would otherwise see
    // the monitor's command line, which names host paths (like runc shows `runc init`).
    sys::set_process_title(&[b"berth", b"init"], b"berth");
    if unshare_cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| fail(format!("unshare cgroup namespace: {e}")))?;
    }
    for (fd, flag) in &join.fds {
        sys::setns(fd, *flag).map_err(|e| fail(format!("setns: {e}")))?;
        if *flag == libc::CLONE_NEWUSER {
            // Joined a container's user namespace (exec): our host ids are unmapped there
            // until we take its root's.
            crate::userns::become_root().map_err(fail)?;
        }
    }
    drop(join);
    let _ = nix::unistd::setsid();
    init_lap("init.join_namespaces");

    let (process, init) = match mode {
        Mode::Init { spec, rootfs, init } => {
            setup_container(spec, rootfs, sock, tty)?;
            let p = spec
                .process()
                .as_ref()
                .ok_or_else(|| fail("spec has no process"))?;
            (p, *init)
        }
        Mode::Exec { process, .. } => {
            std::env::set_current_dir("/").map_err(|e| fail(format!("chdir /: {e}")))?;
            if tty {
                open_pty(sock, false, process)?;
            }
            (*process, false)
        }
    };
    if !tty {
        set_stdio(stdio)?;
    }
    finalize(process, sock, init)
}

/// Makes the monitor's pipes (or /dev/null where there is none) the process's stdio. Runs
/// inside the container's root, so the /dev/null is the container's own, verified to be
/// the null device before it is opened for I/O: no host descriptor (the host's /dev/null)
/// and nothing a container may have planted under that name becomes the process's stdio.
fn set_stdio(stdio: ChildStdio) -> Result<(), StartError> {
    let null = || {
        rootfs::open_dev_null(Path::new("/dev/null"))
            .and_then(|path_fd| {
                File::options()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/self/fd/{}", path_fd.as_raw_fd()))
            })
            .map(OwnedFd::from)
            .map_err(|e| fail(format!("open /dev/null: {e}")))
    };
    let stdin = match stdio.stdin {
        Some(f) => f,
        None => null()?,
    };
    let stdout = match stdio.stdout {
        Some(f) => f,
        None => null()?,
    };
    let stderr = match stdio.stderr {
        Some(f) => f,
        None => null()?,
    };
    for (f, target) in [(&stdin, 0), (&stdout, 1), (&stderr, 2)] {
        nix::unistd::dup2(f.as_raw_fd(), target).map_err(|e| fail(format!("dup2: {e}")))?;
    }
    Ok(())
}

/// runc's rule: a sysctl is written only where it stays inside a namespace of the
/// container's own (or one it joined); never into the host's IPC, network or UTS
/// namespace, whatever a caller put in the spec.
fn sysctl_allowed(
    key: &str,
    namespaces: &[oci_spec::runtime::LinuxNamespace],
) -> Result<(), RuntimeError> {
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if crate::defaults::IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return if has(LinuxNamespaceType::Ipc) {
            Ok(())
        } else {
            Err(RuntimeError::spec(format!(
                "sysctl {key:?} is not allowed in the hosts ipc namespace"
            )))
        };
    }
    if key.starts_with("net.") {
        return if has(LinuxNamespaceType::Network) {
            Ok(())
        } else {
            Err(RuntimeError::spec(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )))
        };
    }
    match key {
        "kernel.domainname" if has(LinuxNamespaceType::Uts) => Ok(()),
        "kernel.hostname" => Err(RuntimeError::spec(format!(
            "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
        ))),
        _ => Err(RuntimeError::spec(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        ))),
    }
}

/// Container-wide setup of an init: mounts, pivot_root, devices, pty, hostname, sysctl,
/// masked/read-only paths, read-only root.
fn setup_container(spec: &Spec, rootfs: &Path, sock: RawFd, tty: bool) -> Result<(), StartError> {
    let linux = spec.linux().as_ref();
    let new_mnt = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| {
            v.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none())
        });
    if new_mnt {
        rootfs::prepare(spec, rootfs).map_err(fail)?;
        init_lap("init.rootfs_mounts");
        rootfs::pivot(rootfs).map_err(fail)?;
        init_lap("init.pivot_root");
        rootfs::create_devices(spec).map_err(fail)?;
        init_lap("init.devices");
    } else {
        return Err(fail("a container needs its own mount namespace"));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| fail("spec has no process"))?;
    if tty {
        open_pty(sock, true, process)?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| fail(format!("sethostname: {e}")))?;
    }
    let new_net = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| {
            v.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        });
    if new_net {
        sys::loopback_up().map_err(|e| fail(format!("bring up lo: {e}")))?;
    }
    init_lap("init.tty_hostname_loopback");
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        // SAFETY: pointer and length of a live byte slice.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(fail(format!(
                "setdomainname: {}",
                io::Error::last_os_error()
            )));
        }
    }
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        let namespaces = linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
        for (k, v) in sysctl {
            if k.contains("..") || k.contains('/') {
                return Err(fail(format!("invalid sysctl {k}")));
            }
            sysctl_allowed(k, namespaces).map_err(fail)?;
            let p = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&p, v).map_err(|e| fail(format!("write sysctl {k}: {e}")))?;
        }
    }
    if let Some(l) = linux {
        rootfs::mask_paths(l.masked_paths().as_deref().unwrap_or(&[])).map_err(fail)?;
        rootfs::readonly_paths(l.readonly_paths().as_deref().unwrap_or(&[])).map_err(fail)?;
    }
    init_lap("init.sysctls_masked_and_readonly_paths");
    // Docker creates a missing working directory.
    let cwd = process.cwd();
    if cwd.is_absolute() && !cwd.exists() {
        let _ = std::fs::create_dir_all(cwd);
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        rootfs::readonly_root().map_err(fail)?;
    }
    Ok(())
}

/// Opens a new pty from the container's devpts, sends the master to the monitor and makes
/// the slave our controlling terminal and stdio.
fn open_pty(sock: RawFd, console: bool, process: &Process) -> Result<(), StartError> {
    let master = rootfs::open_ptmx().map_err(|e| fail(format!("open /dev/pts/ptmx: {e}")))?;
    let m = master.as_raw_fd();
    // SAFETY: ioctls on the master fd we own; unlock takes a pointer to an int.
    let slave = unsafe {
        let mut unlock: libc::c_int = 0;
        if libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) != 0 {
            return Err(fail(format!("unlockpt: {}", io::Error::last_os_error())));
        }
        let fd = libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(fail(format!(
                "open pty slave: {}",
                io::Error::last_os_error()
            )));
        }
        OwnedFd::from_raw_fd(fd)
    };
    if let Some(sz) = process.console_size() {
        let ws = libc::winsize {
            ws_row: sz.height() as u16,
            ws_col: sz.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct we own.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    if console {
        rootfs::bind_console(&slave).map_err(fail)?;
    }
    sys::send_fd(sock, FromInit::PTY_TAG, m).map_err(|e| fail(format!("send pty master: {e}")))?;
    drop(master);
    // SAFETY: TIOCSCTTY on a tty fd we own; we are a session leader.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(fail(format!(
            "set controlling tty: {}",
            io::Error::last_os_error()
        )));
    }
    for t in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), t).map_err(|e| fail(format!("dup2 pty: {e}")))?;
    }
    Ok(())
}

fn reset_signals() {
    // SAFETY: resetting signal dispositions and the mask of this (single-threaded) child.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in 1..32 {
            if s != libc::SIGKILL && s != libc::SIGSTOP {
                libc::signal(s, libc::SIG_DFL);
            }
        }
    }
}

fn rlimit_resource(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    } as libc::c_int)
}

/// Sets one rlimit; a hard limit above what this host allows is clamped to the current
/// hard limit instead of failing (we may lack CAP_SYS_RESOURCE).
fn set_rlimit(res: libc::c_int, soft: u64, hard: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit/getrlimit with pointers to a local struct.
    unsafe {
        if libc::setrlimit(res as _, &lim) == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
        let mut cur: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(res as _, &mut cur) != 0 {
            return Err(e);
        }
        lim.rlim_max = lim.rlim_max.min(cur.rlim_max);
        lim.rlim_cur = lim.rlim_cur.min(lim.rlim_max);
        if libc::setrlimit(res as _, &lim) == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Per-process setup shared by init and exec: rlimits, user, capabilities, cwd, exec path
/// lookup, fd hygiene; then report ready, wait for go and exec.
fn finalize(process: &Process, sock: RawFd, init: bool) -> Result<Never, StartError> {
    for rl in process.rlimits().as_deref().unwrap_or(&[]) {
        let name = serde_json::to_value(rl.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let res = rlimit_resource(&name).ok_or_else(|| fail(format!("unknown rlimit {name}")))?;
        set_rlimit(res, rl.soft(), rl.hard())
            .map_err(|e| fail(format!("setrlimit {name}: {e}")))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        // Like runc: a value the kernel refuses (lowering it needs CAP_SYS_RESOURCE) fails
        // the start instead of running the container with another score than asked.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| fail(format!("write /proc/self/oom_score_adj: {e}")))?;
    }
    let user = process.user();
    // SAFETY: umask only changes this process's creation mask.
    unsafe { libc::umask(user.umask().unwrap_or(0o022) as libc::mode_t) };
    crate::seccomp::install_prepared(process, false).map_err(fail)?;
    if let Some(c) = process.capabilities() {
        caps::drop_bounding(c).map_err(|e| fail(format!("drop bounding set: {e}")))?;
    }
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(|e| fail(format!("setgroups: {e}")))?;
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| fail(format!("setgid: {e}")))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| fail(format!("setuid: {e}")))?;
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(c) = process.capabilities() {
        caps::apply(c).map_err(|e| fail(format!("capset: {e}")))?;
    }
    if process.no_new_privileges() == Some(true) {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(fail(format!(
                "no_new_privs: {}",
                io::Error::last_os_error()
            )));
        }
    }

    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(fail(format!(
            "cwd {:?} is not an absolute path inside the container",
            cwd.display().to_string()
        )));
    }
    std::env::set_current_dir(cwd).map_err(|e| {
        fail(format!(
            "chdir to cwd ({:?}) set in config.json failed: {e}",
            cwd.display().to_string()
        ))
    })?;
    // The cwd must resolve under the container's "/" (getcwd says "(unreachable)" else).
    let real = nix::unistd::getcwd().map_err(|e| fail(format!("getcwd: {e}")))?;
    if !real.is_absolute() || real.to_string_lossy().starts_with("(unreachable)") {
        return Err(fail(format!(
            "cwd {:?} is outside the container root",
            cwd.display().to_string()
        )));
    }

    let args = process.args().as_deref().unwrap_or(&[]);
    let arg0 = args.first().ok_or_else(|| fail("process has no args"))?;
    let env = process.env().as_deref().unwrap_or(&[]);
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let exe = look_path(arg0, path_var)?;
    let c_exe =
        CString::new(exe.as_os_str().as_encoded_bytes()).map_err(|_| fail("NUL in path"))?;
    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| fail("NUL in args"))?;
    let c_env: Vec<CString> = env
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| fail("NUL in env"))?;

    sys::cloexec_from(3).map_err(|e| fail(format!("close fds: {e}")))?;
    init_lap("init.process_settings");
    let steps = INIT_LAPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .steps
        .clone();
    send(sock, &FromInit::Ready(steps).encode()).map_err(|e| fail(e.to_string()))?;
    let mut b = [0u8; 16];
    match sys::recv_msg(sock, &mut b) {
        Ok((n, _)) if ToInit::decode(&b[..n]) == Some(ToInit::Go) => {}
        _ => sys::exit_now(1),
    }
    crate::seccomp::install_prepared(process, true).map_err(fail)?;
    if init {
        run_init(sock, arg0, &c_exe, &c_args, &c_env);
    }
    Err(exec(arg0, &c_exe, &c_args, &c_env))
}

fn exec(arg0: &str, exe: &CString, args: &[CString], env: &[CString]) -> StartError {
    let e = nix::unistd::execve(exe, args, env).unwrap_err();
    let (code, what) = match e {
        nix::errno::Errno::ENOENT => (127, "no such file or directory".to_string()),
        nix::errno::Errno::EACCES => (126, "permission denied".to_string()),
        other => (126, other.desc().to_lowercase()),
    };
    StartError::new(format!("exec: {arg0:?}: {what}"), code)
}

/// Finds the executable like Go's `exec.LookPath`, with Docker's messages and codes.
pub(crate) fn look_path(name: &str, path_var: &str) -> Result<PathBuf, StartError> {
    use nix::unistd::{access, AccessFlags};
    let check = |p: &Path| -> Result<(), (i32, String)> {
        match std::fs::metadata(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err((
                127,
                format!("stat {}: no such file or directory", p.display()),
            )),
            Err(e) => Err((126, format!("stat {}: {e}", p.display()))),
            Ok(m) if m.is_dir() => Err((126, "is a directory".into())),
            Ok(_) => access(p, AccessFlags::X_OK).map_err(|_| (126, "permission denied".into())),
        }
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return match check(&p) {
            Ok(()) => Ok(p),
            Err((code, msg)) => Err(StartError::new(format!("exec: {name:?}: {msg}"), code)),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if check(&p).is_ok() {
            return Ok(p);
        }
    }
    Err(StartError::new(
        format!("exec: {name:?}: executable file not found in $PATH"),
        127,
    ))
}

/// `--init`: stay as pid 1, run the process as our child, forward signals, reap zombies,
/// exit with the child's status.
fn run_init(sock: RawFd, arg0: &str, exe: &CString, args: &[CString], env: &[CString]) -> ! {
    // SAFETY: signal mask manipulation and fork in a single-threaded process.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        // Shown like Docker's init (`/sbin/docker-init -- cmd`), not as the monitor it was
        // forked from (whose arguments name host paths). Renamed before the fork, so the
        // command never sees pid 1 under its old name.
        let mut title: Vec<&[u8]> = vec![b"/sbin/docker-init", b"--"];
        title.extend(args.iter().map(|a| a.as_bytes()));
        sys::set_process_title(&title, b"docker-init");
        let child = libc::fork();
        if child < 0 {
            sys::exit_now(1);
        }
        if child == 0 {
            reset_signals();
            let e = exec(arg0, exe, args, env);
            send_error(sock, &e);
            sys::exit_now(e.exit_code);
        }
        // pid 1 never execs, so drop everything it inherited (the monitor's pipe ends
        // included, or the child would never see EOF on stdin).
        if sock > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, (sock - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (sock + 1) as u32, u32::MAX, 0u32);
        libc::close(sock);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let p = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if p <= 0 {
                    break;
                }
                if p == child {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    sys::exit_now(code);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_read_like_go() {
        assert_eq!(
            go_errno_text("chdir /x: No such file or directory (os error 2)"),
            "chdir /x: no such file or directory"
        );
        assert_eq!(go_errno_text("plain"), "plain");
        assert_eq!(
            go_errno_text("a: Permission denied (os error 13); b: odd (os error 22)"),
            "a: permission denied; b: odd"
        );
    }

    #[test]
    fn sysctls_stay_inside_the_containers_namespaces() {
        let ns = |types: &[LinuxNamespaceType]| -> Vec<oci_spec::runtime::LinuxNamespace> {
            types
                .iter()
                .map(|t| {
                    oci_spec::runtime::LinuxNamespaceBuilder::default()
                        .typ(*t)
                        .build()
                        .unwrap()
                })
                .collect()
        };
        let own = ns(&[
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Uts,
        ]);
        assert!(sysctl_allowed("kernel.msgmax", &own).is_ok());
        assert!(sysctl_allowed("fs.mqueue.msg_max", &own).is_ok());
        assert!(sysctl_allowed("net.ipv4.ip_forward", &own).is_ok());
        assert!(sysctl_allowed("kernel.domainname", &own).is_ok());
        let host = ns(&[LinuxNamespaceType::Mount]);
        assert!(sysctl_allowed("kernel.msgmax", &host)
            .unwrap_err()
            .to_string()
            .contains("hosts ipc namespace"));
        assert!(sysctl_allowed("net.ipv4.ip_forward", &host)
            .unwrap_err()
            .to_string()
            .contains("host network namespace"));
        assert!(sysctl_allowed("kernel.domainname", &host).is_err());
        assert!(sysctl_allowed("kernel.hostname", &own).is_err());
        assert!(sysctl_allowed("vm.swappiness", &own).is_err());
    }

    #[test]
    fn look_path_messages() {
        let e = look_path("nosuch-xyz", "/bin:/usr/bin").unwrap_err();
        assert_eq!(e.exit_code, 127);
        assert_eq!(
            e.message,
            "exec: \"nosuch-xyz\": executable file not found in $PATH"
        );
        let e = look_path("/etc", "").unwrap_err();
        assert_eq!(e.exit_code, 126);
        let e = look_path("/nonexistent/x", "").unwrap_err();
        assert_eq!(e.exit_code, 127);
        assert_eq!(
            look_path("sh", "/nope:/bin").unwrap(),
            PathBuf::from("/bin/sh")
        );
    }
}
