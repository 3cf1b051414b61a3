//! The daemon's side of a monitor: spawning it, the socket link, and what happens when
//! the container exits.

use super::{Container, Lifecycle, Output};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use berth_runtime::protocol::{encode_frame, ExitStatus, FrameDecoder, FrameKind};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;

/// The write half of a monitor connection: start, stdin, resize, signals.
pub struct MonitorWriter {
    w: OwnedWriteHalf,
}

impl MonitorWriter {
    pub async fn send(&mut self, kind: FrameKind, payload: &[u8]) -> std::io::Result<()> {
        self.w.write_all(&encode_frame(kind, payload)).await
    }
}

/// The json-file log a monitor writes.
pub struct LogSpec {
    pub path: PathBuf,
    /// Rotate at this size; `None`: never.
    pub max_size: Option<u64>,
    /// Files kept, the current one included.
    pub max_file: u32,
    /// Gzip rotated files.
    pub compress: bool,
    /// moby's extra attributes as a JSON object (empty: none), written into every record.
    pub attrs: String,
}

/// What to pass to `berth monitor`.
pub struct MonitorSpec {
    pub bundle: PathBuf,
    pub id: String,
    pub log: Option<LogSpec>,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    /// For execs: the container's init pid, the process.json path, and the container's
    /// config.json (its seccomp filter applies to the exec too).
    pub exec: Option<(i64, PathBuf, PathBuf)>,
    /// The OCI runtime binary that makes the process (`None`: the built-in runtime),
    /// and the container's id there (for execs).
    pub runtime: Option<(berth_runtime::oci::OciRuntime, String)>,
}

/// Spawns a monitor and waits for its first line: the init's pid, or the reason it failed.
pub async fn spawn(daemon: &Daemon, spec: &MonitorSpec) -> Result<(i64, i64)> {
    let mut cmd = match &daemon.monitor_exe {
        Some(sealed) => tokio::process::Command::new(sealed.path()),
        None => tokio::process::Command::new(&daemon.self_exe),
    };
    cmd.arg0("berth")
        .arg("monitor")
        .arg("--bundle")
        .arg(&spec.bundle)
        .arg("--id")
        .arg(&spec.id);
    if let Some(log) = &spec.log {
        cmd.arg("--log").arg(&log.path);
        if let Some(size) = log.max_size {
            cmd.arg("--log-max-size").arg(size.to_string());
        }
        cmd.arg("--log-max-file").arg(log.max_file.to_string());
        if log.compress {
            cmd.arg("--log-compress");
        }
        if !log.attrs.is_empty() {
            cmd.arg("--log-attrs").arg(&log.attrs);
        }
    }
    if spec.tty {
        cmd.arg("--tty");
    }
    if spec.stdin {
        cmd.arg("--stdin");
    }
    if spec.stdin_once {
        cmd.arg("--stdin-once");
    }
    if let Some((pid, process, container_config)) = &spec.exec {
        cmd.arg("--exec")
            .arg("--target-pid")
            .arg(pid.to_string())
            .arg("--process")
            .arg(process)
            .arg("--seccomp-from")
            .arg(container_config);
    }
    if let Some((rt, container)) = &spec.runtime {
        cmd.arg("--runtime")
            .arg(&rt.binary)
            .arg("--runtime-root")
            .arg(&rt.root);
        for a in &rt.args {
            cmd.arg(format!("--runtime-arg={a}"));
        }
        if spec.exec.is_some() {
            cmd.arg("--runtime-container").arg(container);
        }
    }
    let stderr = berth_perms::create_file(
        &spec.bundle.join("monitor.log"),
        berth_perms::Mode::SECRET_FILE,
    )
    .map_err(|e| DaemonError::io("create monitor log", e))?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(false);
    let mut child = cmd
        .spawn()
        .map_err(|e| DaemonError::io("spawn monitor", e))?;
    let monitor_pid = child.id().unwrap_or(0) as i64;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| DaemonError::Other("monitor has no stdout".into()))?;
    // Reap the monitor whenever it exits; it is detached from us in every other way.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stdout);
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        reader.read_line(&mut line),
    )
    .await;
    match read {
        Ok(Ok(n)) if n > 0 => {}
        _ => {
            let log = std::fs::read_to_string(spec.bundle.join("monitor.log")).unwrap_or_default();
            return Err(DaemonError::Other(format!(
                "monitor did not start: {}",
                log.trim().lines().last().unwrap_or("no output")
            )));
        }
    }
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| DaemonError::Other(format!("monitor said {line:?}: {e}")))?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        return Err(DaemonError::Api(start_error(err, spec.runtime.is_some())));
    }
    let pid = v.get("pid").and_then(|p| p.as_i64()).unwrap_or(0);
    // The monitor's own steps, for the phase trace (see crate::phase).
    for step in v
        .get("phases")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(us)) = (
            step.get(0).and_then(|n| n.as_str()),
            step.get(1).and_then(|n| n.as_u64()),
        ) {
            tracing::debug!(
                target: "berth_daemon::phase",
                phase = name,
                container = %spec.id.chars().take(12).collect::<String>(),
                us,
            );
        }
    }
    Ok((pid, monitor_pid))
}

/// Docker's start failure: the runtime's reason behind moby's prefix, as a 400 for a
/// missing or non-executable program (the CLI turns those into exit codes 127/126). An OCI
/// runtime's reason is its own full message (`runc create failed: unable to start ...`).
fn start_error(reason: &str, oci: bool) -> berth_api::ApiError {
    let msg = if oci {
        format!("failed to create task for container: failed to create shim task: OCI runtime create failed: {reason}: unknown")
    } else {
        format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: {reason}: unknown"
        )
    };
    if reason.contains("executable file not found")
        || reason.contains("not found in $PATH")
        || reason.contains("no such file or directory")
        || reason.contains("permission denied")
        || reason.contains("not a directory")
    {
        berth_api::ApiError::invalid(msg)
    } else {
        berth_api::ApiError::system(msg)
    }
}

/// Connects to a monitor's socket, retrying briefly while it comes up.
pub async fn connect_socket(path: &Path) -> std::io::Result<UnixStream> {
    let mut last = None;
    let (dir, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(std::io::Error::other("bad monitor socket path")),
    };
    for _ in 0..50 {
        let (_guard, short) = berth_runtime::protocol::socket_path(dir, name)?;
        match UnixStream::connect(&short).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("connect failed")))
}

/// Links a container to its monitor: optional `Start`, then a task that fans output out to
/// attached clients and handles the exit.
pub async fn link_container(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    send_start: bool,
) -> Result<()> {
    let paths = daemon.container_paths(&c.id);
    let stream = connect_socket(&paths.socket())
        .await
        .map_err(|e| DaemonError::io(format!("connect to monitor of {}", c.id), e))?;
    let (mut r, w) = stream.into_split();
    let mut writer = MonitorWriter { w };
    if send_start {
        writer
            .send(FrameKind::Start, &[])
            .await
            .map_err(|e| DaemonError::io("start container", e))?;
    }
    *c.monitor.lock().await = Some(writer);
    let daemon = daemon.clone();
    let c = c.clone();
    tokio::spawn(async move {
        let status = relay_output(&mut r, &c.output).await;
        handle_exit(&daemon, &c, status).await;
    });
    Ok(())
}

/// Fans a monitor's output frames out to attached clients until its `Exit` frame (returned)
/// or the end of the connection (`None`: the caller reads exit.json).
pub async fn relay_output(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    output: &super::output::OutputHub,
) -> Option<ExitStatus> {
    let mut dec = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        dec.push(&buf[..n]);
        while let Ok(Some((kind, payload))) = dec.next_frame() {
            match kind {
                FrameKind::Stdout => {
                    output.send(Output::Data(1, Bytes::from(payload))).await;
                }
                FrameKind::Stderr => {
                    output.send(Output::Data(2, Bytes::from(payload))).await;
                }
                FrameKind::Exit => return serde_json::from_slice(&payload).ok(),
                _ => {}
            }
        }
    }
}

/// Reads the exit status a monitor left behind.
pub fn read_exit_file(path: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records a container's exit, releases its rootfs, tells waiters, then applies
/// auto-remove or the restart policy.
/// Boxed with an explicit `Send` bound: exit → restart → start → link → exit is a cycle
/// of futures, which needs a named type to break.
pub fn handle_exit(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    status: Option<ExitStatus>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
    let daemon = daemon.clone();
    let c = c.clone();
    Box::pin(async move { handle_exit_inner(&daemon, &c, status).await })
}

async fn handle_exit_inner(daemon: &Arc<Daemon>, c: &Arc<Container>, status: Option<ExitStatus>) {
    // Health checks come back if and when the container starts again.
    super::health::stop(c);
    let paths = daemon.container_paths(&c.id);
    // The monitor may still be writing exit.json when the socket closes.
    let mut status = status;
    for _ in 0..100 {
        if status.is_some() {
            break;
        }
        status = read_exit_file(&paths.exit_file());
        if status.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let (code, oom, finished, error) = match status {
        Some(s) => (
            s.exit_code as i64,
            s.oom_killed,
            s.finished_at,
            String::new(),
        ),
        None => (
            255,
            false,
            super::now_rfc3339(),
            "container monitor exited unexpectedly".to_string(),
        ),
    };
    c.monitor.lock().await.take();
    let _ = c.transition(super::state::Transition::Exited {
        exit_code: code,
        oom_killed: oom,
        finished_at: finished,
        error,
    });
    c.rec().monitor_pid = 0;
    crate::networks::endpoints::endpoint_events(daemon, c, "disconnect");
    crate::networks::endpoints::release(daemon, c).await;
    let exited_paths = paths.clone();
    let _ = tokio::task::spawn_blocking(move || {
        berth_image::snapshot::unmount(&exited_paths.rootfs()).ok();
        super::namespaces::release_shm(&exited_paths);
        let _ = std::fs::remove_dir_all(&exited_paths.bundle);
    })
    .await;
    // An auto-remove container is deleted next; its exit needs no commit of its own
    // (a crash in between finds the monitor gone and removes it on restart).
    if !c.rec().host_config.auto_remove {
        if let Err(e) = daemon.persist(c) {
            tracing::error!("persist exit of {}: {e}", c.id);
        }
    }
    let plan = c.rec().mount_plan.clone();
    crate::volumes::unmount_events(daemon, &c.id, &plan);
    if oom {
        daemon.container_event(c, "oom", &[]);
    }
    // moby's execDuration: whole seconds the process ran.
    let ran = chrono::DateTime::parse_from_rfc3339(&c.rec().state.started_at)
        .map(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_seconds()
                .max(0)
        })
        .unwrap_or(0);
    daemon.container_event(
        c,
        "die",
        &[
            ("exitCode", code.to_string()),
            ("execDuration", ran.to_string()),
        ],
    );
    c.output.send(Output::Exit(code)).await;
    c.lifecycle.send_modify(|l: &mut Lifecycle| {
        l.exits += 1;
        l.running = false;
        l.exit_code = code;
    });
    let daemon = daemon.clone();
    let c = c.clone();
    tokio::spawn(async move { super::restart_policy::after_exit(&daemon, &c).await });
}
