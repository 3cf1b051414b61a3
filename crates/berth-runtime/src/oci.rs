//! An OCI runtime binary (runc, crun, youki) driven through its command line, as
//! containerd's shim drives it: `create` with the container's stdio (or a console socket),
//! `start`, `exec --detach`, `pause`, `resume`, `update`, `delete`.
//!
//! The monitor that calls `create` and `exec` is a child subreaper, so the processes the
//! runtime leaves behind become its children: it waits for them and signals them without a
//! pid-reuse race, as it does for the built-in runtime's.

use oci_spec::runtime::LinuxResources;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one runtime command may take before it is killed.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Why an OCI runtime command failed, in the runtime's own words where it gave any.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The binary could not be run at all.
    #[error("{binary}: {source}")]
    Spawn {
        /// The runtime binary.
        binary: String,
        /// Why exec failed.
        source: std::io::Error,
    },
    /// The runtime ran and reported an error (its last logged error line).
    #[error("{0}")]
    Failed(String),
    /// Talking to the runtime (pid file, console socket) failed.
    #[error("{0}")]
    Io(String),
}

/// One configured OCI runtime: the binary, its extra arguments (daemon.json
/// `runtimeArgs`) and the state directory it keeps its containers in (`--root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    /// The runtime binary (a path, or a name looked up on PATH).
    pub binary: PathBuf,
    /// Global options given before the command (`--systemd-cgroup`, ...).
    pub args: Vec<String>,
    /// The runtime's state root (`--root`): per daemon, so daemons never share ids.
    pub root: PathBuf,
}

/// The container's stdio for `create`/`exec` without a terminal.
pub struct Stdios {
    /// Read end of the process's stdin; `None`: /dev/null.
    pub stdin: Option<OwnedFd>,
    /// Write end of the process's stdout.
    pub stdout: OwnedFd,
    /// Write end of the process's stderr.
    pub stderr: OwnedFd,
}

/// A process the runtime created: its pid, and the pty master when it has a terminal.
pub struct Spawned {
    /// The container's (or exec'd) process, in the host's pid namespace.
    pub pid: i32,
    /// The terminal's master side, received over the console socket.
    pub pty_master: Option<OwnedFd>,
}

impl OciRuntime {
    /// A command line of this runtime: binary, global options, `--root`, and a json log
    /// at `log` from which errors are read.
    fn command(&self, log: &Path) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(&self.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json");
        c
    }

    /// Runs one command to its end; stdin gets `input`.
    fn run(&self, log: &Path, args: &[OsString], input: Option<&[u8]>) -> Result<(), OciError> {
        let mut c = self.command(log);
        c.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| self.spawn_error(e))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| OciError::Io(format!("wait for {}: {e}", self.binary.display())))?;
        if out.status.success() {
            return Ok(());
        }
        Err(OciError::Failed(last_error(log, &out.stderr)))
    }

    fn spawn_error(&self, e: std::io::Error) -> OciError {
        OciError::Spawn {
            binary: self.binary.display().to_string(),
            source: e,
        }
    }

    /// `create`: the container exists, its process waits for [`start`](Self::start).
    /// `stdio` is `None` for a terminal, whose master comes back over a console socket
    /// made in `bundle`.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Option<Stdios>,
    ) -> Result<Spawned, OciError> {
        // A state left by a monitor that was killed would make the id taken.
        if self.root.join(id).exists() {
            let _ = self.delete(id, bundle);
        }
        let pid_file = bundle.join("runtime.pid");
        let mut args: Vec<OsString> = vec![
            "create".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        self.spawn_process(bundle, &mut args, id, stdio, &pid_file)
    }

    /// `exec --detach`: a new process in the running container `id`, described by
    /// `process` (an OCI `Process` JSON file); `dir` holds its pid file, log and socket.
    pub fn exec(
        &self,
        id: &str,
        dir: &Path,
        process: &Path,
        stdio: Option<Stdios>,
    ) -> Result<Spawned, OciError> {
        let pid_file = dir.join("runtime.pid");
        let mut args: Vec<OsString> = vec![
            "exec".into(),
            "--detach".into(),
            "--process".into(),
            process.into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        self.spawn_process(dir, &mut args, id, stdio, &pid_file)
    }

    fn spawn_process(
        &self,
        dir: &Path,
        args: &mut Vec<OsString>,
        id: &str,
        stdio: Option<Stdios>,
        pid_file: &Path,
    ) -> Result<Spawned, OciError> {
        let log = dir.join("runtime.log");
        let _ = std::fs::remove_file(pid_file);
        let console = match stdio {
            Some(_) => None,
            None => {
                let path = dir.join("console.sock");
                let _ = std::fs::remove_file(&path);
                let (guard, short) = crate::protocol::socket_path(dir, "console.sock")
                    .map_err(|e| OciError::Io(format!("console socket: {e}")))?;
                let l = UnixListener::bind(&short)
                    .map_err(|e| OciError::Io(format!("bind {}: {e}", path.display())))?;
                l.set_nonblocking(true)
                    .map_err(|e| OciError::Io(format!("console socket: {e}")))?;
                // A long path is reached through our open directory, as the runtime
                // sees it (`/proc/<our pid>/fd/<n>`); the guard stays open until it ends.
                let reach = match &guard {
                    Some(d) => PathBuf::from(format!(
                        "/proc/{}/fd/{}/console.sock",
                        std::process::id(),
                        d.as_raw_fd()
                    )),
                    None => path.clone(),
                };
                args.push("--console-socket".into());
                args.push(reach.into());
                Some((l, path, guard))
            }
        };
        args.push(id.into());
        let mut c = self.command(&log);
        c.args(args.iter());
        match stdio {
            Some(s) => {
                c.stdin(s.stdin.map_or_else(Stdio::null, Stdio::from))
                    .stdout(Stdio::from(s.stdout))
                    .stderr(Stdio::from(s.stderr));
            }
            None => {
                c.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        let child = c.spawn().map_err(|e| self.spawn_error(e))?;
        drop(c);
        let (status, pty_master) = wait_receiving_console(child, console.as_ref().map(|c| &c.0))?;
        if let Some((_, path, _)) = &console {
            let _ = std::fs::remove_file(path);
        }
        if !status.success() {
            return Err(OciError::Failed(last_error(&log, b"")));
        }
        if console.is_some() && pty_master.is_none() {
            return Err(OciError::Io(
                "the runtime sent no terminal over the console socket".into(),
            ));
        }
        let pid = std::fs::read_to_string(pid_file)
            .map_err(|e| OciError::Io(format!("read {}: {e}", pid_file.display())))?
            .trim()
            .parse::<i32>()
            .map_err(|e| OciError::Io(format!("parse {}: {e}", pid_file.display())))?;
        Ok(Spawned { pid, pty_master })
    }

    /// `start`: releases a created container's process.
    pub fn start(&self, id: &str, dir: &Path) -> Result<(), OciError> {
        self.run(&dir.join("runtime.log"), &["start".into(), id.into()], None)
    }

    /// `pause`: freezes every process of the container.
    pub fn pause(&self, id: &str, dir: &Path) -> Result<(), OciError> {
        self.run(&dir.join("runtime.log"), &["pause".into(), id.into()], None)
    }

    /// `resume`: thaws a paused container.
    pub fn resume(&self, id: &str, dir: &Path) -> Result<(), OciError> {
        self.run(
            &dir.join("runtime.log"),
            &["resume".into(), id.into()],
            None,
        )
    }

    /// `update --resources -`: new cgroup limits for a running container.
    pub fn update(&self, id: &str, dir: &Path, resources: &LinuxResources) -> Result<(), OciError> {
        let json = serde_json::to_vec(resources)
            .map_err(|e| OciError::Io(format!("encode resources: {e}")))?;
        self.run(
            &dir.join("runtime.log"),
            &["update".into(), "--resources".into(), "-".into(), id.into()],
            Some(&json),
        )
    }

    /// `delete --force`: removes the container's state (and kills what is left of it).
    pub fn delete(&self, id: &str, dir: &Path) -> Result<(), OciError> {
        self.run(
            &dir.join("runtime.log"),
            &["delete".into(), "--force".into(), id.into()],
            None,
        )
    }
}

/// Waits for a `create`/`exec` command, taking the terminal it sends over `console`.
fn wait_receiving_console(
    mut child: Child,
    console: Option<&UnixListener>,
) -> Result<(std::process::ExitStatus, Option<OwnedFd>), OciError> {
    let began = Instant::now();
    let mut master = None;
    loop {
        if let (Some(l), None) = (console, &master) {
            master = take_console(l);
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if let (Some(l), None) = (console, &master) {
                    master = take_console(l);
                }
                return Ok((status, master));
            }
            Ok(None) => {}
            Err(e) => return Err(OciError::Io(format!("wait for runtime: {e}"))),
        }
        if began.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(OciError::Failed(format!(
                "the runtime did not finish within {}s",
                COMMAND_LIMIT.as_secs()
            )));
        }
        match console.filter(|_| master.is_none()) {
            Some(l) => {
                let mut fds = [libc::pollfd {
                    fd: l.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: poll on one valid pollfd we own.
                unsafe { libc::poll(fds.as_mut_ptr(), 1, 2) };
            }
            None => std::thread::sleep(Duration::from_micros(500)),
        }
    }
}

/// Accepts the runtime's console connection (if it came) and receives the pty master.
fn take_console(l: &UnixListener) -> Option<OwnedFd> {
    let (conn, _) = l.accept().ok()?;
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    crate::sys::recv_msg(conn.as_raw_fd(), &mut buf).ok()?.1
}

/// The runtime's reason for a failure: the `msg` of the last error in its json log, else
/// the last line it wrote to stderr.
fn last_error(log: &Path, stderr: &[u8]) -> String {
    let logged = std::fs::read_to_string(log).unwrap_or_default();
    let from_log = logged.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let level = v.get("level").and_then(|l| l.as_str()).unwrap_or("");
        if level != "error" && level != "fatal" {
            return None;
        }
        v.get("msg").and_then(|m| m.as_str()).map(str::to_string)
    });
    from_log.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(stderr);
        text.trim()
            .lines()
            .last()
            .unwrap_or("the runtime failed without a message")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_logged_error_is_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        std::fs::write(
            &log,
            concat!(
                "{\"level\":\"warning\",\"msg\":\"ignored\"}\n",
                "{\"level\":\"error\",\"msg\":\"runc create failed: first\"}\n",
                "not json\n",
                "{\"level\":\"error\",\"msg\":\"runc create failed: unable to start container process: exec: \\\"nope\\\": executable file not found in $PATH\"}\n",
                "{\"level\":\"info\",\"msg\":\"later\"}\n",
            ),
        )
        .unwrap();
        assert_eq!(
            last_error(&log, b""),
            "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
        let none = dir.path().join("absent.log");
        assert_eq!(last_error(&none, b"x\ncrun: boom\n"), "crun: boom");
        assert_eq!(
            last_error(&none, b""),
            "the runtime failed without a message"
        );
    }

    #[test]
    fn a_missing_binary_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let rt = OciRuntime {
            binary: dir.path().join("no-such-runtime"),
            args: vec![],
            root: dir.path().join("root"),
        };
        let e = rt.start("c1", dir.path()).unwrap_err();
        assert!(matches!(e, OciError::Spawn { .. }), "{e}");
        assert!(e.to_string().contains("no-such-runtime"), "{e}");
    }

    #[test]
    fn a_failing_runtime_reports_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-runtime");
        // Logs an error to the --log file named in its arguments, like runc does.
        std::fs::write(
            &script,
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = --log ]; then log=$2; fi; shift; done\n\
             echo '{\"level\":\"error\",\"msg\":\"container does not exist\"}' >> \"$log\"\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rt = OciRuntime {
            binary: script,
            args: vec!["--debug".into()],
            root: dir.path().join("root"),
        };
        let e = rt.pause("c1", dir.path()).unwrap_err();
        assert_eq!(e.to_string(), "container does not exist");
    }
}
