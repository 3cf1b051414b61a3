//! Shared harness of the end-to-end tests: a private `berth daemon` per test, driven by the
//! unmodified docker CLI, our own CLI, and raw HTTP over its unix socket.
//!
//! Everything a daemon touches is private to it: data root, exec root, API socket, pidfile,
//! config file, docker client config and cgroup parent. `Drop` cleans all of it up, also
//! when the test panics (drop runs while unwinding).

#![allow(dead_code)]

pub mod access;
pub mod netns;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const DOCKER: &str = "/usr/local/bin/docker";
/// Upper bound for any single client command; a hang fails the test instead of the suite.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether the machine can run these tests: root, the docker CLI and /bin/busybox. A missing
/// one fails the test under `./scripts/test.sh` and is a counted skip elsewhere.
pub fn can_run() -> bool {
    can_run_daemon()
        && berth_testkit::require(
            Path::new(DOCKER).exists(),
            &format!("the docker 28 CLI at {DOCKER}"),
            "machines of this kind ship it",
        )
}

/// Whether the machine can run a private daemon (root, /bin/busybox for the test image);
/// unlike `can_run`, the docker CLI is not needed.
pub fn can_run_daemon() -> bool {
    berth_testkit::require_root()
        && berth_testkit::require(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox",
            "apt-get install busybox-static",
        )
}

/// `daemon!(d);` binds `d` to a fresh private daemon, or returns from the test when the
/// machine can't run e2e tests (not root, no docker CLI, no /bin/busybox).
#[macro_export]
macro_rules! daemon {
    ($d:ident) => {
        if !common::can_run() {
            return;
        }
        let $d = common::TestDaemon::start();
    };
}

/// The busybox rootfs tar, built once per test process.
pub fn busybox_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let mut buf = Vec::new();
        berth_image::bootstrap::busybox_rootfs_tar(Path::new("/bin/busybox"), &mut buf)
            .expect("build busybox rootfs tar");
        buf
    })
}

pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

/// Result of a client command.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Out {
    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "`{}` failed ({}):\nstdout: {}\nstderr: {}",
            self.what, self.code, self.stdout, self.stderr
        );
        &self.stdout
    }
    /// Trimmed stdout after asserting success.
    #[track_caller]
    pub fn out(&self) -> String {
        self.ok().trim().to_string()
    }
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "`{}`: want exit {want}, got {}:\nstdout: {}\nstderr: {}",
            self.what, self.code, self.stdout, self.stderr
        );
        self
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` with optional stdin, killing it after `timeout`.
pub fn run_cmd(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Out {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        code,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        what,
    }
}

/// Polls `f` until it returns Some, or panics with `what` after `timeout`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
    /// Asserts a Docker-style error: status, JSON content type, `message` containing `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.starts_with("application/json"),
            "error content-type is {ct:?}; body: {}",
            self.text()
        );
        let msg = self.json()["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {}", self.text()))
            .to_string();
        assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    }
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_str = String::from_utf8_lossy(&rest[..nl]);
            let size =
                usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            rest = &rest[nl + 2..];
            if size == 0 || rest.len() < size {
                out.extend_from_slice(&rest[..size.min(rest.len())]);
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[(size + 2).min(rest.len())..];
        }
        body = out;
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

/// How `TestDaemon::start_with` starts its daemon.
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// Run the daemon (and so its monitors) from a private copy of the berth binary under
    /// the test's directory, for tests whose attack could corrupt the binary they run.
    pub copy_binary: bool,
    /// Extra `berth daemon` flags.
    pub args: Vec<String>,
    /// Run the daemon inside this network namespace (`ip netns exec`), with everything
    /// network-related it makes.
    pub netns: Option<String>,
    /// Extra environment of the daemon (and so of its monitors).
    pub env: Vec<(String, String)>,
    /// Everything under this directory instead of a fresh `/tmp/bt<hex>` (for a data
    /// root made elsewhere at a fixed path, such as the upgrade fixture).
    pub dir: Option<PathBuf>,
    /// The default bridge's name and subnet (`10.x.y.0/24`) instead of fresh ones.
    pub bridge: Option<(String, String)>,
    /// Do not import `busybox:latest` (the data root has its images already).
    pub no_busybox: bool,
}

/// One private daemon.
pub struct TestDaemon {
    /// `/tmp/bt<8 hex>`: everything of this daemon lives below.
    pub dir: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub sock: PathBuf,
    pub cgroup_parent: String,
    pub docker_config: PathBuf,
    /// This daemon's default bridge (`bt<6 hex>`) and its subnet (`10.x.y.0/24`).
    pub bridge: String,
    pub subnet: String,
    child: Option<Child>,
    generation: u32,
    /// The berth binary this daemon runs (the build's, or a private copy).
    pub exe: PathBuf,
    extra_args: Vec<String>,
    netns: Option<String>,
    env: Vec<(String, String)>,
}

impl TestDaemon {
    /// Starts a daemon on fresh roots and imports `busybox:latest`.
    pub fn start() -> TestDaemon {
        Self::start_with(DaemonOptions::default())
    }

    /// Like `start`, with options.
    pub fn start_with(opts: DaemonOptions) -> TestDaemon {
        let tag = random_hex(8);
        let dir = opts
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/tmp/bt{tag}")));
        std::fs::create_dir_all(&dir).expect("create test dir");
        let docker_config = dir.join("cfg");
        std::fs::create_dir_all(&docker_config).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let exe = if opts.copy_binary {
            let copy = dir.join("berth");
            std::fs::copy(env!("CARGO_BIN_EXE_berth"), &copy).expect("copy berth binary");
            copy
        } else {
            PathBuf::from(env!("CARGO_BIN_EXE_berth"))
        };
        let mut d = TestDaemon {
            exe,
            extra_args: opts.args,
            netns: opts.netns,
            env: opts.env,
            data_root: dir.join("d"),
            exec_root: dir.join("x"),
            sock: dir.join("d.sock"),
            cgroup_parent: format!("berth-test-{tag}"),
            docker_config,
            bridge: opts
                .bridge
                .as_ref()
                .map_or_else(|| format!("bt{}", &tag[..6]), |b| b.0.clone()),
            subnet: opts
                .bridge
                .as_ref()
                .map_or_else(free_test_subnet, |b| b.1.clone()),
            dir,
            child: None,
            generation: 0,
        };
        d.spawn_daemon();
        if !opts.no_busybox {
            d.import_busybox();
        }
        d
    }

    /// The command line of a daemon on this test's roots (for extra daemons).
    pub fn daemon_command(&self) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        c.arg("daemon")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--pidfile")
            .arg(self.dir.join("berth.pid"))
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .arg("--log-level")
            .arg("debug");
        if !self.extra_args.iter().any(|a| a == "--bridge" || a == "-b") {
            c.arg("--bridge")
                .arg(&self.bridge)
                .arg("--bip")
                .arg(self.subnet.replace(".0/24", ".1/24"));
        }
        c.args(&self.extra_args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// The default bridge's gateway address (`10.x.y.1`).
    pub fn gateway(&self) -> String {
        self.subnet.replace(".0/24", ".1")
    }

    fn spawn_daemon(&mut self) {
        self.generation += 1;
        let log = std::fs::File::create(self.dir.join(format!("daemon{}.log", self.generation)))
            .expect("create daemon log");
        let child = self
            .daemon_command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berth daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.try_request("GET", "/_ping", &[], &[]) {
                if r.status == 200 {
                    return;
                }
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited early ({st}):\n{}", self.daemon_log());
            }
            if Instant::now() > deadline {
                panic!("daemon did not answer /_ping:\n{}", self.daemon_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the daemon(s) logged so far.
    pub fn daemon_log(&self) -> String {
        (1..=self.generation)
            .map(|g| {
                std::fs::read_to_string(self.dir.join(format!("daemon{g}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    fn import_busybox(&self) {
        let r = self.request(
            "POST",
            "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D",
            &[("Content-Type", "application/x-tar")],
            busybox_tar(),
        );
        assert_eq!(r.status, 200, "import busybox: {}", r.text());
        assert!(
            !r.text().contains("\"error"),
            "import busybox failed: {}",
            r.text()
        );
    }

    /// Kills the daemon with SIGKILL (its containers' monitors stay).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a new daemon on the same roots (after `kill9` or `stop_daemon`).
    pub fn restart_daemon(&mut self) {
        assert!(self.child.is_none(), "daemon still running");
        self.spawn_daemon();
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop_daemon(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Out {
        run_cmd(self.docker_cmd(args), None, COMMAND_TIMEOUT)
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        run_cmd(self.docker_cmd(args), Some(stdin), COMMAND_TIMEOUT)
    }

    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("-H")
            .arg(self.host())
            .args(args)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", &self.docker_config);
        c
    }

    /// Runs our own CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Out {
        run_cmd(self.berth_cmd(args), None, COMMAND_TIMEOUT)
    }

    pub fn berth_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        run_cmd(self.berth_cmd(args), Some(stdin), COMMAND_TIMEOUT)
    }

    /// One HTTP/1.1 request over the unix socket; reads the response to EOF.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut s = UnixStream::connect(&self.sock)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_write_timeout(Some(Duration::from_secs(60)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        // The server may answer (e.g. 413) and close before reading a big body.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A signal to the test process (a child exiting) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if raw.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        parse_response(&raw).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad response: {:?}", String::from_utf8_lossy(&raw)),
            )
        })
    }

    #[track_caller]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], &[])
    }

    #[track_caller]
    pub fn post_json(&self, path: &str, body: &str) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// IDs of all containers (API).
    pub fn container_ids(&self) -> Vec<String> {
        let r = self.get("/containers/json?all=1");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Id"].as_str().unwrap().to_string())
            .collect()
    }

    /// IDs of all images (API).
    pub fn image_ids(&self) -> Vec<String> {
        let r = self.get("/images/json?all=1");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Id"].as_str().unwrap().to_string())
            .collect()
    }

    /// `docker inspect --format <fmt> <obj>`, trimmed.
    #[track_caller]
    pub fn inspect(&self, obj: &str, fmt: &str) -> String {
        self.docker(&["inspect", "--format", fmt, obj]).out()
    }

    /// Waits until the container's `State.Status` is `status`.
    #[track_caller]
    pub fn wait_status(&self, obj: &str, status: &str) {
        wait_for(
            &format!("{obj} to be {status}"),
            Duration::from_secs(30),
            || {
                let o = self.docker(&["inspect", "--format", "{{.State.Status}}", obj]);
                (o.code == 0 && o.stdout.trim() == status).then_some(())
            },
        )
    }

    /// Waits until `docker logs obj` contains `needle`; returns the logs.
    #[track_caller]
    pub fn wait_logs(&self, obj: &str, needle: &str) -> String {
        wait_for(
            &format!("{needle:?} in logs of {obj}"),
            Duration::from_secs(30),
            || {
                let o = self.docker(&["logs", obj]);
                let all = o.all();
                all.contains(needle).then_some(all)
            },
        )
    }

    fn cleanup(&mut self) {
        // 1. Containers, through the API, while the daemon is alive.
        if self.child.is_some() {
            if let Ok(r) = self.try_request("GET", "/containers/json?all=1", &[], &[]) {
                if let Ok(serde_json::Value::Array(list)) =
                    serde_json::from_slice::<serde_json::Value>(&r.body)
                {
                    for c in list {
                        if let Some(id) = c["Id"].as_str() {
                            let _ = self.try_request(
                                "DELETE",
                                &format!("/containers/{id}?force=1&v=1"),
                                &[],
                                &[],
                            );
                        }
                    }
                }
            }
        }
        // 2. The daemon.
        self.stop_daemon();
        // 3. Leftover monitors (and their containers) of this test.
        kill_monitors(&self.exec_root);
        // 3b. Network leftovers a daemon that did not stop cleanly keeps: its default
        // bridge and its nftables table.
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let table = berth_daemon::networks::table_name(&self.data_root);
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .stderr(Stdio::null())
            .status();
        // 4. Mounts under our dir, deepest first.
        unmount_under(&self.dir);
        // 5. Cgroups.
        remove_cgroups(&self.cgroup_parent);
        // 6. Files.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.daemon_log();
            let tail: String = log
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("---- daemon log tail ({}) ----\n{tail}", self.dir.display());
        }
        self.cleanup();
    }
}

/// Kills every `berth monitor` whose command line names `exec_root`, then the processes
/// left in their cgroups die with them (the monitor is the container init's parent; the
/// pid namespace goes when its init goes).
pub fn kill_monitors(exec_root: &Path) {
    let needle = exec_root.to_string_lossy().into_owned();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    let mut pids = Vec::new();
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) == Some("monitor")
            && args.iter().any(|a| a.contains(&needle))
        {
            pids.push(pid);
        }
    }
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for pid in pids {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Unmounts (lazily) every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    for _ in 0..3 {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for p in points {
            let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes `<hierarchy>/<parent>` (children first) in every cgroup hierarchy.
pub fn remove_cgroups(parent: &str) {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup").join(parent)];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            roots.push(e.path().join(parent));
        }
    }
    for r in roots {
        if r.is_dir() {
            rmdir_cgroup_tree(&r);
        }
    }
}

fn rmdir_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_cgroup_tree(&e.path());
            }
        }
    }
    // A cgroup whose last process is still exiting refuses rmdir (EBUSY) briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        // Kill whatever is still inside.
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `Field:` value of a `/proc/<pid>/status` text (`CapEff`, `Seccomp`, `NoNewPrivs`, ...).
pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// A /24 under 10.200.0.0/13 that no route on this host covers yet.
pub fn free_test_subnet() -> String {
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    loop {
        let r = u32::from_str_radix(&random_hex(6), 16).unwrap();
        let (a, b) = (200 + (r % 50), (r >> 8) % 256);
        let prefix = format!("10.{a}.{b}.");
        if !routes.contains(&prefix) {
            return format!("{prefix}0/24");
        }
    }
}
