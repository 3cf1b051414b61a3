//! `berth monitor`: one small process per container (or exec) that owns the process's
//! stdio/pty, writes the json-file log, serves attach clients on `monitor.sock`, and
//! records the exit status. Single-threaded poll loop, no async runtime, so it is safe to
//! fork from and costs little memory per container. See docs/internals.md.

use crate::cgroups::{self, Cgroup};
use crate::container::{self, ChildStdio, Mode, StartError};
use crate::logfile::{self, JsonLog, Stream};
use crate::protocol::{encode_frame_into, ExitStatus, FrameDecoder, FrameKind};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most bytes buffered for one slow client before it is disconnected (not reached while
/// [`CLIENT_HIGH_WATER`] holds the process back).
const MAX_CLIENT_BACKLOG: usize = 8 * 1024 * 1024;
/// A client this far behind stops the reading of the process's output until it catches
/// up: the process waits on its writes, as under Docker, and no reader loses a byte.
const CLIENT_HIGH_WATER: usize = 1024 * 1024;
/// How long a client that holds the output back may keep an exited process's monitor
/// draining.
const HELD_DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// After this much inactivity the monitor gives back memory it touched (see `sys::release_idle_memory`).
const IDLE_TRIM: Duration = Duration::from_secs(2);
/// How long output is still drained after the process exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Parsed command line of `berth monitor`.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Bundle (init) or exec state directory; holds monitor.sock, pid files, exit.json.
    pub bundle: PathBuf,
    /// Container or exec id (for messages).
    pub id: String,
    /// json-file log path (init mode only).
    pub log: Option<PathBuf>,
    /// Rotate the log at this size (0 = never).
    pub log_max_size: u64,
    /// Number of log files kept.
    pub log_max_file: u32,
    /// Gzip rotated log files (moby's `compress=true`).
    pub log_compress: bool,
    /// moby's extra attributes as a serialized JSON object, written into every record.
    pub log_attrs: Option<String>,
    /// Allocate a pty.
    pub tty: bool,
    /// Keep stdin open (a pipe) instead of /dev/null.
    pub stdin: bool,
    /// Close stdin when the first client that wrote stdin disconnects.
    pub stdin_once: bool,
    /// Exec mode: join a running container.
    pub exec: bool,
    /// Exec mode: the container's init pid.
    pub target_pid: i32,
    /// Exec mode: process.json (an OCI `Process`).
    pub process: Option<PathBuf>,
    /// Exec mode: the container's config.json, whose `linux.seccomp` the exec'd process
    /// gets too (Docker applies the container's profile to every exec).
    pub seccomp_from: Option<PathBuf>,
    /// An OCI runtime binary (runc, crun, ...) that creates the process instead of the
    /// built-in runtime.
    pub runtime: Option<PathBuf>,
    /// That runtime's global options (daemon.json `runtimeArgs`).
    pub runtime_args: Vec<String>,
    /// That runtime's state root (`--root`).
    pub runtime_root: Option<PathBuf>,
    /// The container's id as the OCI runtime knows it (exec mode; `--id` otherwise).
    pub runtime_container: Option<String>,
}

impl Options {
    /// The OCI runtime named by `--runtime`, if any.
    fn oci(&self) -> Option<crate::oci::OciRuntime> {
        let binary = self.runtime.clone()?;
        Some(crate::oci::OciRuntime {
            binary,
            args: self.runtime_args.clone(),
            root: self
                .runtime_root
                .clone()
                .unwrap_or_else(|| self.bundle.join("runtime-state")),
        })
    }
}

/// Parses the `berth monitor` arguments (after the word `monitor`).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        log_max_file: 1,
        ..Default::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut val = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("flag {flag} needs a value"))
        };
        let num = |s: String| -> Result<u64, String> {
            s.parse()
                .map_err(|_| format!("invalid number for {flag}: {s}"))
        };
        match flag {
            "--bundle" => o.bundle = PathBuf::from(val()?),
            "--id" => o.id = val()?,
            "--log" => o.log = Some(PathBuf::from(val()?)),
            "--log-max-size" => o.log_max_size = num(val()?)?,
            "--log-max-file" => o.log_max_file = num(val()?)? as u32,
            "--log-compress" => o.log_compress = true,
            "--log-attrs" => {
                let v = val()?;
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&v)
                    .map_err(|e| format!("invalid --log-attrs: {e}"))?;
                o.log_attrs = Some(v);
            }
            "--tty" => o.tty = true,
            "--stdin" => o.stdin = true,
            "--stdin-once" => o.stdin_once = true,
            "--exec" => o.exec = true,
            "--target-pid" => o.target_pid = num(val()?)? as i32,
            "--process" => o.process = Some(PathBuf::from(val()?)),
            "--seccomp-from" => o.seccomp_from = Some(PathBuf::from(val()?)),
            "--runtime" => o.runtime = Some(PathBuf::from(val()?)),
            "--runtime-arg" => o.runtime_args.push(val()?),
            "--runtime-root" => o.runtime_root = Some(PathBuf::from(val()?)),
            "--runtime-container" => o.runtime_container = Some(val()?),
            other => return Err(format!("unknown monitor flag {other}")),
        }
    }
    if o.bundle.as_os_str().is_empty() {
        return Err("--bundle is required".into());
    }
    if o.exec && (o.target_pid <= 0 || o.process.is_none()) {
        return Err("--exec needs --target-pid and --process".into());
    }
    if o.exec && o.runtime.is_some() && o.runtime_container.is_none() {
        return Err("--exec with --runtime needs --runtime-container".into());
    }
    Ok(o)
}

/// Entry point of `berth monitor`; returns the process's exit code (128+signal when
/// killed), or 1 when the container could not be created.
pub fn main(args: Vec<String>) -> i32 {
    // Never enter a container from the host's runtime binary (CVE-2019-5736): a monitor the
    // daemon spawned already runs from its sealed copy; any other copies itself first.
    if let Err(e) = crate::sealed_exe::ensure_running_sealed() {
        report_error(&err(e.to_string()));
        return 1;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            report_error(&StartError {
                message: e,
                exit_code: 1,
            });
            return 1;
        }
    };
    match run(&opts) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            1
        }
    }
}

fn report_error(e: &StartError) {
    let line = serde_json::json!({"error": e.message, "exit_code": e.exit_code});
    eprintln!("berth monitor: {}", e.message);
    let mut out = io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn err(message: impl Into<String>) -> StartError {
    StartError {
        message: message.into(),
        exit_code: 1,
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StartError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")))
}

fn set_nonblock(fd: RawFd) {
    // SAFETY: fcntl flag update on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Blocks SIGCHLD and returns a signalfd for it, so child exits wake the poll loop.
fn sigchld_fd() -> Result<OwnedFd, StartError> {
    // SAFETY: signal mask setup and signalfd creation with a local sigset.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(err(format!("signalfd: {}", io::Error::last_os_error())));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    berth_perms::write_file(&tmp, data, berth_perms::Mode::SECRET_FILE)?;
    std::fs::rename(&tmp, path)
}

/// What the monitor was asked to run: a container's spec, or an exec's process (with the
/// container's seccomp filter).
struct Loaded {
    spec: Option<Spec>,
    process: Option<Process>,
    exec_seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    tty: bool,
}

/// Reads config.json (a container) or process.json (an exec).
fn load(o: &Options, bundle: &Path) -> Result<Loaded, StartError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| err(format!("read {}: {e}", p.display())));
    if o.exec {
        let p = o.process.as_ref().expect("checked in parse_args");
        let process: Process = serde_json::from_slice(&read(p)?)
            .map_err(|e| err(format!("parse {}: {e}", p.display())))?;
        let exec_seccomp = match &o.seccomp_from {
            Some(cfg) => {
                let s: Spec = serde_json::from_slice(&read(cfg)?)
                    .map_err(|e| err(format!("parse {}: {e}", cfg.display())))?;
                s.linux().as_ref().and_then(|l| l.seccomp().clone())
            }
            None => None,
        };
        Ok(Loaded {
            tty: o.tty || process.terminal() == Some(true),
            spec: None,
            process: Some(process),
            exec_seccomp,
        })
    } else {
        let spec: Spec = serde_json::from_slice(&read(&bundle.join("config.json"))?)
            .map_err(|e| err(format!("parse config.json: {e}")))?;
        Ok(Loaded {
            tty: o.tty || spec.process().as_ref().and_then(|p| p.terminal()) == Some(true),
            spec: Some(spec),
            process: None,
            exec_seccomp: None,
        })
    }
}

impl Loaded {
    /// Whether the container has a pid namespace of its own: without one (`--pid
    /// host|container:`) the init's exit does not end its other processes, and the monitor
    /// kills what is left in the cgroup, as runc does.
    fn own_pid_namespace(&self) -> bool {
        self.spec.as_ref().is_some_and(|s| {
            s.linux()
                .as_ref()
                .and_then(|l| l.namespaces().as_ref())
                .is_some_and(|ns| {
                    ns.iter()
                        .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
                })
        })
    }

    /// How the built-in runtime makes the process.
    fn mode<'a>(&'a self, bundle: &Path, target_pid: i32) -> Mode<'a> {
        match (&self.spec, &self.process) {
            (Some(s), _) => {
                let root = s
                    .root()
                    .as_ref()
                    .map(|r| r.path().clone())
                    .unwrap_or_else(|| PathBuf::from("rootfs"));
                let rootfs = if root.is_absolute() {
                    root
                } else {
                    bundle.join(root)
                };
                let init = s
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get("org.berth.init"))
                    .is_some_and(|v| v == "true");
                Mode::Init {
                    spec: s,
                    rootfs,
                    init,
                }
            }
            (None, Some(p)) => Mode::Exec {
                process: p,
                target_pid,
                seccomp: self.exec_seccomp.as_ref(),
            },
            (None, None) => unreachable!("load gives a spec or a process"),
        }
    }
}

/// Binds `<bundle>/monitor.sock` (through a short path when the bundle's is long).
fn bind_socket(bundle: &Path) -> Result<(UnixListener, PathBuf), StartError> {
    let sock_path = bundle.join("monitor.sock");
    let _ = std::fs::remove_file(&sock_path);
    let (dir_guard, bind_path) = crate::protocol::socket_path(bundle, "monitor.sock")
        .map_err(|e| err(format!("open {}: {e}", bundle.display())))?;
    let listener = UnixListener::bind(&bind_path)
        .map_err(|e| err(format!("bind {}: {e}", sock_path.display())))?;
    drop(dir_guard);
    listener
        .set_nonblocking(true)
        .map_err(|e| err(e.to_string()))?;
    Ok((listener, sock_path))
}

/// The container's cgroup (made here unless an OCI runtime makes it), or for an exec the
/// cgroup directories of the process it joins.
fn prepare_cgroup(
    o: &Options,
    loaded: &Loaded,
    own_cgroup: bool,
) -> Result<(Option<Cgroup>, Vec<PathBuf>), StartError> {
    if let Some(s) = &loaded.spec {
        let Some(cp) = s.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()) else {
            return Ok((None, Vec::new()));
        };
        let cg = Cgroup::new(&cp.to_string_lossy());
        // An OCI runtime makes (and later deletes) its container's cgroup itself; the
        // monitor only reads its OOM count and sweeps it.
        if own_cgroup {
            let res = s.linux().as_ref().and_then(|l| l.resources().as_ref());
            if let Err(e) = cg.create(res) {
                let _ = cg.remove();
                return Err(err(format!("create cgroup: {e}")));
            }
        }
        return Ok((Some(cg), Vec::new()));
    }
    if !own_cgroup {
        return Ok((None, Vec::new()));
    }
    let dirs = cgroups::dirs_of_pid(o.target_pid)
        .map_err(|e| err(format!("read cgroup of {}: {e}", o.target_pid)))?;
    Ok((None, dirs))
}

/// The monitor's ends of the process's stdio (the pty's, once it exists, for a terminal).
#[derive(Default)]
struct StdioEnds {
    stdin: Option<OwnedFd>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
}

/// Pipes for a process without a terminal: the child's ends and ours.
fn make_stdio(tty: bool, want_stdin: bool) -> Result<(ChildStdio, StdioEnds), StartError> {
    if tty {
        let none = ChildStdio {
            stdin: None,
            stdout: None,
            stderr: None,
        };
        return Ok((none, StdioEnds::default()));
    }
    let mut ends = StdioEnds::default();
    let stdin = if want_stdin {
        let (r, w) = pipe()?;
        ends.stdin = Some(w);
        Some(r)
    } else {
        None
    };
    let (or, ow) = pipe()?;
    let (er, ew) = pipe()?;
    ends.out = Some(or);
    ends.err = Some(er);
    let child = ChildStdio {
        stdin,
        stdout: Some(ow),
        stderr: Some(ew),
    };
    Ok((child, ends))
}

/// Tells the daemon the process exists: pid files, then one line on stdout with the pid
/// and the steps it took, then stdout closed (fd 1 stays valid as /dev/null).
fn announce(bundle: &Path, laps: container::Laps, created: &container::Created) {
    let secret = berth_perms::Mode::SECRET_FILE;
    let pid = std::process::id().to_string();
    let _ = berth_perms::write_file(&bundle.join("monitor.pid"), pid.as_bytes(), secret);
    let _ = berth_perms::write_file(
        &bundle.join("init.pid"),
        created.pid.to_string().as_bytes(),
        secret,
    );
    let mut laps = laps;
    laps.lap("monitor.log_and_pid_files");
    let mut all = laps.steps;
    all.extend(created.phases.iter().cloned());
    all.extend(created.init_phases.iter().cloned());
    let line = serde_json::json!({ "pid": created.pid, "phases": all });
    let mut out = io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

fn run(o: &Options) -> Result<i32, StartError> {
    // Steps until the container exists, reported with its pid (the daemon's phase trace).
    let mut laps = container::Laps::started();
    let _ = nix::unistd::setsid();
    let oci = o.oci();
    // The cgroup is the monitor's to make (and remove) unless an OCI runtime makes it.
    let own_cgroup = oci.is_none();
    if oci.is_some() {
        // The runtime's create and exec leave the process behind when they exit: as a
        // subreaper the monitor becomes its parent, waits for it and signals it.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let sigfd = sigchld_fd()?;
    let bundle = std::fs::canonicalize(&o.bundle)
        .map_err(|e| err(format!("bundle {}: {e}", o.bundle.display())))?;
    let loaded = load(o, &bundle)?;
    let tty = loaded.tty;
    laps.lap("monitor.read_spec");

    // Socket first, so a daemon never sees a pid without a socket to connect to.
    let (listener, sock_path) = bind_socket(&bundle)?;
    let cleanup_sock = |e: StartError| {
        let _ = std::fs::remove_file(&sock_path);
        e
    };
    let (cgroup, extra_dirs) = prepare_cgroup(o, &loaded, own_cgroup).map_err(cleanup_sock)?;
    laps.lap("monitor.socket_and_cgroup");

    let (child_stdio, mut ends) = make_stdio(tty, o.stdin)?;
    let own_pid_namespace = loaded.own_pid_namespace();
    laps.lap("monitor.stdio");
    let made = match &oci {
        Some(rt) => create_with_runtime(rt, o, &bundle, child_stdio),
        None => container::create(
            loaded.mode(&bundle, o.target_pid),
            cgroup.as_ref(),
            &extra_dirs,
            child_stdio,
            tty,
        ),
    };
    let created = match made {
        Ok(c) => c,
        Err(e) => {
            if let (Some(cg), true) = (&cgroup, own_cgroup) {
                let _ = cg.remove();
            }
            return Err(cleanup_sock(e));
        }
    };
    laps.lap("monitor.create_container");
    drop(loaded);

    if let Some(m) = &created.pty_master {
        ends.stdin = nix::unistd::dup(m.as_raw_fd())
            .ok()
            // SAFETY: dup returned a new descriptor we own.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        ends.out = Some(
            m.try_clone()
                .map_err(|e| cleanup_sock(err(format!("dup pty: {e}"))))?,
        );
    }
    let log = match &o.log {
        Some(p) if !o.exec => Some(
            JsonLog::open(p, o.log_max_size, o.log_max_file)
                .map_err(|e| cleanup_sock(err(format!("open log {}: {e}", p.display()))))?
                .with_attrs(o.log_attrs.as_deref().unwrap_or(""))
                .with_compress(o.log_compress),
        ),
        _ => None,
    };
    announce(&bundle, laps, &created);

    // No trim here: the start is on the critical path of `docker run`, and a short-lived
    // container needs these pages again at once; the poll loop trims after IDLE_TRIM.
    let mut m = Monitor {
        listener,
        clients: Vec::new(),
        out: ends.out,
        err: ends.err,
        stdin: ends.stdin,
        stdin_buf: Vec::new(),
        stdin_close_pending: false,
        stdin_once: o.stdin_once,
        log,
        sync: created.sync,
        pty: created.pty_master,
        started: false,
        pid: created.pid,
        exec_error: None,
        tty,
        sweep: cgroup.as_ref().filter(|_| !own_pid_namespace).cloned(),
        oci: oci
            .clone()
            .filter(|_| !o.exec)
            .map(|rt| (rt, o.id.clone(), bundle.clone())),
        subreaper: oci.is_some(),
    };
    for fd in [&m.out, &m.err, &m.stdin].into_iter().flatten() {
        set_nonblock(fd.as_raw_fd());
    }
    let code = m.run_loop(&sigfd);
    if let Some(l) = &mut m.log {
        let _ = l.flush();
    }
    let oom = finish_container(o, &bundle, oci.as_ref(), cgroup.as_ref(), own_pid_namespace);
    let status = ExitStatus {
        exit_code: code,
        oom_killed: oom,
        finished_at: logfile::now_rfc3339_nano(),
        error: m.exec_error.as_ref().map(|e| e.message.clone()),
    };
    let json = serde_json::to_vec(&status).unwrap_or_default();
    if let Err(e) = write_atomic(&bundle.join("exit.json"), &json) {
        eprintln!("berth monitor: write exit.json: {e}");
    }
    // No new clients from here; those already queued on the listener still get Exit.
    let _ = std::fs::remove_file(&sock_path);
    m.send_exit(&json);
    Ok(code)
}

/// After the process exited: reads the OOM count, kills what is left (no pid namespace
/// of its own), and removes the container (the runtime's `delete`, or the cgroup the
/// monitor made). Returns whether the OOM killer struck.
fn finish_container(
    o: &Options,
    bundle: &Path,
    oci: Option<&crate::oci::OciRuntime>,
    cgroup: Option<&Cgroup>,
    own_pid_namespace: bool,
) -> bool {
    let oom = cgroup.is_some_and(|c| c.oom_kills() > 0);
    if let Some(cg) = cgroup {
        if !own_pid_namespace {
            cg.kill_all();
        }
    }
    match oci {
        // The runtime removes its state and the cgroup it made.
        Some(rt) if !o.exec => {
            if let Err(e) = rt.delete(&o.id, bundle) {
                eprintln!("berth monitor: {} delete: {e}", rt.binary.display());
            }
        }
        Some(_) => {}
        None => {
            if let Some(cg) = cgroup {
                if let Err(e) = cg.remove() {
                    eprintln!("berth monitor: remove cgroup: {e}");
                }
            }
        }
    }
    oom
}

/// Creates the container (or exec process) with an OCI runtime binary.
fn create_with_runtime(
    rt: &crate::oci::OciRuntime,
    o: &Options,
    bundle: &Path,
    stdio: ChildStdio,
) -> Result<container::Created, StartError> {
    let mut laps = container::Laps::started();
    let stdios = match (stdio.stdout, stdio.stderr) {
        (Some(stdout), Some(stderr)) => Some(crate::oci::Stdios {
            stdin: stdio.stdin,
            stdout,
            stderr,
        }),
        _ => None,
    };
    let spawned = if o.exec {
        let process = o.process.as_ref().expect("checked in parse_args");
        let id = o
            .runtime_container
            .as_deref()
            .expect("checked in parse_args");
        rt.exec(id, bundle, process, stdios)
    } else {
        rt.create(&o.id, bundle, stdios)
    }
    .map_err(runtime_error)?;
    laps.lap(if o.exec {
        "create.runtime_exec"
    } else {
        "create.runtime_create"
    });
    Ok(container::Created {
        pid: spawned.pid,
        sync: None,
        pty_master: spawned.pty_master,
        phases: laps.steps,
        init_phases: Vec::new(),
    })
}

/// An OCI runtime's failure as the start error the daemon reports: its own words, with
/// Docker's exit code for a missing (127) or unusable (126) program.
fn runtime_error(e: crate::oci::OciError) -> StartError {
    let message = e.to_string();
    let exit_code = if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("not found in $PATH")
    {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        1
    };
    StartError { message, exit_code }
}

struct Client {
    sock: UnixStream,
    dec: FrameDecoder,
    out: Vec<u8>,
    wrote_stdin: bool,
    dead: bool,
}

impl Client {
    fn flush(&mut self) {
        while !self.out.is_empty() {
            match self.sock.write(&self.out) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.out.len() > MAX_CLIENT_BACKLOG {
                        self.dead = true;
                    }
                    return;
                }
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
}

struct Monitor {
    listener: UnixListener,
    clients: Vec<Client>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    stdin_close_pending: bool,
    stdin_once: bool,
    log: Option<JsonLog>,
    sync: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    started: bool,
    pid: i32,
    exec_error: Option<StartError>,
    tty: bool,
    /// The container's cgroup when it has no pid namespace of its own: what is left in it
    /// is killed as soon as the init exits.
    sweep: Option<Cgroup>,
    /// The OCI runtime that created the container, its id there and the bundle: `Start`
    /// runs its `start`.
    oci: Option<(crate::oci::OciRuntime, String, PathBuf)>,
    /// Processes other than ours are reparented here (OCI runtimes): reap them all.
    subreaper: bool,
}

// Poll slots with a fixed meaning; clients follow.
const SLOT_SIG: usize = 0;
const SLOT_LISTEN: usize = 1;
const SLOT_OUT: usize = 2;
const SLOT_ERR: usize = 3;
const SLOT_SYNC: usize = 4;
const SLOT_STDIN: usize = 5;
const FIXED: usize = 6;

fn pfd(fd: Option<RawFd>, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd: fd.unwrap_or(-1),
        events,
        revents: 0,
    }
}

impl Monitor {
    /// Runs until the process has exited and its output is drained; returns the exit code.
    fn run_loop(&mut self, sigfd: &OwnedFd) -> i32 {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(16);
        let mut buf = [0u8; 32 * 1024];
        let mut exit_code: Option<i32> = None;
        let mut deadline: Option<Instant> = None;
        let mut exited_at: Option<Instant> = None;
        let mut trimmed = true;
        loop {
            if let Some(code) = exit_code {
                let drained = self.out.is_none() && self.err.is_none();
                if drained || deadline.is_some_and(|d| Instant::now() >= d) {
                    return code;
                }
            }
            let held = self
                .clients
                .iter()
                .any(|c| !c.dead && c.out.len() >= CLIENT_HIGH_WATER);
            if held {
                if let (Some(d), Some(exited)) = (deadline, exited_at) {
                    if exited.elapsed() < HELD_DRAIN_LIMIT {
                        deadline = Some(d.max(Instant::now() + DRAIN_AFTER_EXIT));
                    }
                }
            }
            fds.clear();
            fds.push(pfd(Some(sigfd.as_raw_fd()), libc::POLLIN));
            fds.push(pfd(Some(self.listener.as_raw_fd()), libc::POLLIN));
            // Output waits for `Start`: an OCI runtime's exec runs the process at once, and
            // the daemon's reader connects just before it sends `Start`.
            let gate = held || !self.started;
            let output = |f: &Option<OwnedFd>| f.as_ref().filter(|_| !gate).map(|f| f.as_raw_fd());
            fds.push(pfd(output(&self.out), libc::POLLIN));
            fds.push(pfd(output(&self.err), libc::POLLIN));
            fds.push(pfd(self.sync.as_ref().map(|f| f.as_raw_fd()), libc::POLLIN));
            let want_stdin = !self.stdin_buf.is_empty();
            fds.push(pfd(
                self.stdin
                    .as_ref()
                    .filter(|_| want_stdin)
                    .map(|f| f.as_raw_fd()),
                libc::POLLOUT,
            ));
            for c in &self.clients {
                let mut ev = libc::POLLIN;
                if !c.out.is_empty() {
                    ev |= libc::POLLOUT;
                }
                fds.push(pfd(Some(c.sock.as_raw_fd()), ev));
            }
            let timeout = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).as_millis() as i32 + 1,
                None if !trimmed => IDLE_TRIM.as_millis() as i32,
                None => -1,
            };
            // SAFETY: fds is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                continue;
            }
            if n == 0 {
                if deadline.is_none() && !trimmed {
                    // Idle: drop the pages the last burst of activity faulted in.
                    crate::sys::release_idle_memory();
                    trimmed = true;
                }
                continue;
            }
            trimmed = false;

            if fds[SLOT_SIG].revents != 0 {
                let mut si = [0u8; 128];
                // SAFETY: reading signalfd records into a local buffer.
                while unsafe { libc::read(sigfd.as_raw_fd(), si.as_mut_ptr().cast(), si.len()) } > 0
                {
                }
                if exit_code.is_none() {
                    if let Some(code) = self.reap() {
                        if let Some(cg) = &self.sweep {
                            cg.kill_all();
                        }
                        exit_code = Some(code);
                        exited_at = Some(Instant::now());
                        deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                    }
                }
            }
            if fds[SLOT_LISTEN].revents != 0 {
                self.accept();
            }
            for (slot, stream) in [(SLOT_OUT, Stream::Stdout), (SLOT_ERR, Stream::Stderr)] {
                if fds[slot].revents != 0 {
                    self.read_output(stream, &mut buf);
                }
            }
            if fds[SLOT_SYNC].revents != 0 {
                self.read_sync();
            }
            if fds[SLOT_STDIN].revents != 0 {
                self.flush_stdin();
            }
            for i in 0..self.clients.len() {
                let re = fds.get(FIXED + i).map_or(0, |p| p.revents);
                if re & libc::POLLOUT != 0 {
                    self.clients[i].flush();
                }
                if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.read_client(i, &mut buf);
                }
            }
            if self.clients.iter().any(|c| c.dead) {
                let once_closed = self
                    .clients
                    .iter()
                    .any(|c| c.dead && c.wrote_stdin && self.stdin_once);
                self.clients.retain(|c| !c.dead);
                if once_closed {
                    self.close_stdin();
                }
            }
        }
    }

    /// Collects the process's status if it has exited.
    fn reap(&mut self) -> Option<i32> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        if self.subreaper {
            return self.reap_all();
        }
        loop {
            match waitpid(
                nix::unistd::Pid::from_raw(self.pid),
                Some(WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::Exited(_, c)) => return Some(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) => return None,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Some(255),
            }
        }
    }

    /// As a subreaper: collects every exited child (the runtime's helpers, orphans of a
    /// container without its own pid namespace); the process's status is returned.
    fn reap_all(&mut self) -> Option<i32> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let mut ours = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p.as_raw() == self.pid => ours = Some(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == self.pid => {
                    ours = Some(128 + s as i32)
                }
                Ok(WaitStatus::StillAlive) => return ours,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                // No children left: ours is gone, even if another reaper took it.
                Err(_) => return ours.or(Some(255)),
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(true);
                    self.clients.push(Client {
                        sock: s,
                        dec: FrameDecoder::new(),
                        out: Vec::new(),
                        wrote_stdin: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn read_output(&mut self, stream: Stream, buf: &mut [u8]) {
        let slot = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        let Some(fd) = slot.as_ref() else { return };
        // SAFETY: reading into a valid buffer from a descriptor we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            *slot = None;
            return;
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                // EIO: the pty's slave side is closed everywhere.
                _ => *slot = None,
            }
            return;
        }
        let data = &buf[..n as usize];
        if let Some(l) = &mut self.log {
            if let Err(e) = l.write(stream, data) {
                eprintln!("berth monitor: write log: {e}");
            }
        }
        let kind = match stream {
            Stream::Stdout => FrameKind::Stdout,
            Stream::Stderr => FrameKind::Stderr,
        };
        for c in &mut self.clients {
            encode_frame_into(&mut c.out, kind, data);
            c.flush();
        }
    }

    fn read_sync(&mut self) {
        let Some(fd) = self.sync.as_ref() else { return };
        let mut b = [0u8; 4096];
        match crate::sys::recv_msg(fd.as_raw_fd(), &mut b) {
            Ok((0, _)) | Err(_) => self.sync = None,
            Ok((n, _)) => {
                if let Some(crate::init_protocol::FromInit::Error(e)) =
                    crate::init_protocol::FromInit::decode(&b[..n])
                {
                    eprintln!("berth monitor: {}", e.message);
                    self.exec_error = Some(e);
                }
            }
        }
    }

    fn read_client(&mut self, i: usize, buf: &mut [u8]) {
        let c = &mut self.clients[i];
        match c.sock.read(buf) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(n) => c.dec.push(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return
            }
            Err(_) => {
                c.dead = true;
                return;
            }
        }
        loop {
            let c = &mut self.clients[i];
            let (kind, payload) = match c.dec.next_frame_ref() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(_) => {
                    c.dead = true;
                    return;
                }
            };
            match kind {
                FrameKind::Start if !self.started => {
                    self.started = true;
                    if let Some(s) = &self.sync {
                        let _ = crate::sys::write_all_fd(
                            s.as_raw_fd(),
                            &crate::init_protocol::ToInit::Go.encode(),
                        );
                    }
                    if let Some((rt, id, bundle)) = &self.oci {
                        if let Err(e) = rt.start(id, bundle) {
                            eprintln!("berth monitor: {} start: {e}", rt.binary.display());
                            self.exec_error = Some(runtime_error(e));
                            // SAFETY: kill on our own child's pid (not reaped yet).
                            unsafe { libc::kill(self.pid, libc::SIGKILL) };
                        }
                    }
                }
                FrameKind::Stdin => {
                    c.wrote_stdin = true;
                    if self.stdin.is_some() && !self.stdin_close_pending {
                        self.stdin_buf.extend_from_slice(payload);
                    }
                    self.flush_stdin();
                }
                FrameKind::StdinClose if !self.tty => self.close_stdin(),
                FrameKind::Resize if payload.len() >= 4 => {
                    if let Some(p) = &self.pty {
                        let ws = libc::winsize {
                            ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                            ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        // SAFETY: TIOCSWINSZ reads a winsize struct we own.
                        unsafe { libc::ioctl(p.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                    }
                }
                FrameKind::Signal if payload.len() >= 4 => {
                    let sig = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    // SAFETY: kill on our own child's pid (it cannot be reused before we reap it).
                    unsafe { libc::kill(self.pid, sig as libc::c_int) };
                }
                _ => {}
            }
        }
    }

    fn close_stdin(&mut self) {
        self.stdin_close_pending = true;
        if self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    fn flush_stdin(&mut self) {
        let Some(fd) = self.stdin.as_ref() else {
            self.stdin_buf.clear();
            return;
        };
        while !self.stdin_buf.is_empty() {
            // SAFETY: writing from a valid buffer to a descriptor we own.
            let n = unsafe {
                libc::write(
                    fd.as_raw_fd(),
                    self.stdin_buf.as_ptr().cast(),
                    self.stdin_buf.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if e.kind() != io::ErrorKind::WouldBlock {
                    // The reader is gone (EPIPE): drop what is buffered.
                    self.stdin_buf.clear();
                    self.stdin = None;
                }
                return;
            }
            self.stdin_buf.drain(..n as usize);
        }
        if self.stdin_close_pending {
            self.stdin = None;
        }
    }

    /// Sends the Exit frame to every client and waits (briefly) until it is written.
    fn send_exit(&mut self, json: &[u8]) {
        // Clients that connected but never got anything still get the exit.
        self.accept();
        for c in &mut self.clients {
            encode_frame_into(&mut c.out, FrameKind::Exit, json);
        }
        // Slow readers get the rest of the output too: the wait goes on while they take
        // bytes (2 s without progress, HELD_DRAIN_LIMIT in all, end it).
        let began = Instant::now();
        let mut deadline = began + DRAIN_AFTER_EXIT;
        let mut left = usize::MAX;
        loop {
            for c in &mut self.clients {
                c.flush();
            }
            self.clients.retain(|c| !c.dead && !c.out.is_empty());
            let now_left: usize = self.clients.iter().map(|c| c.out.len()).sum();
            if now_left < left {
                left = now_left;
                deadline = (Instant::now() + DRAIN_AFTER_EXIT).min(began + HELD_DRAIN_LIMIT);
            }
            if self.clients.is_empty() || Instant::now() >= deadline {
                return;
            }
            let mut fds: Vec<libc::pollfd> = self
                .clients
                .iter()
                .map(|c| pfd(Some(c.sock.as_raw_fd()), libc::POLLOUT))
                .collect();
            // SAFETY: valid pollfd array.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let a: Vec<String> = [
            "--bundle",
            "/b",
            "--id",
            "x",
            "--log",
            "/l",
            "--log-max-size=100",
            "--log-max-file",
            "3",
            "--tty",
            "--stdin",
            "--stdin-once",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = parse_args(&a).unwrap();
        assert_eq!(o.bundle, PathBuf::from("/b"));
        assert_eq!(o.log_max_size, 100);
        assert_eq!(o.log_max_file, 3);
        assert!(o.tty && o.stdin && o.stdin_once && !o.exec);
        assert!(parse_args(&["--bogus".into()]).is_err());
        assert!(parse_args(&["--exec".into(), "--bundle".into(), "/b".into()]).is_err());
    }

    #[test]
    fn log_option_args() {
        let a: Vec<String> = [
            "--bundle",
            "/b",
            "--log",
            "/l",
            "--log-compress",
            "--log-attrs",
            r#"{"k":"a=b,c"}"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = parse_args(&a).unwrap();
        assert!(o.log_compress);
        assert_eq!(o.log_attrs.as_deref(), Some(r#"{"k":"a=b,c"}"#));
        let bad: Vec<String> = ["--bundle", "/b", "--log-attrs", "[1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(parse_args(&bad).is_err());
    }
}
