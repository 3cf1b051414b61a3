//! Exec instances: `POST /containers/{id}/exec`, `POST /exec/{id}/start`,
//! `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use super::attach::{hijack_head, pump_output, OutputWants};
use super::monitor_link::{self, MonitorSpec};
use super::{Container, Output};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::server::http::{self, HandlerResult, Req};
use berth_api::exec::{ExecConfig, ExecInspect, ExecStartConfig, ProcessConfig};
use berth_api::ApiError;
use berth_runtime::protocol::{encode_frame, FrameKind};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// One exec instance; kept in memory like dockerd does.
pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub output: super::output::OutputHub,
    pub done: watch::Sender<bool>,
    writer: tokio::sync::Mutex<Option<tokio::net::unix::OwnedWriteHalf>>,
}

#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

impl ExecInstance {
    fn state(&self) -> std::sync::MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn send(&self, kind: FrameKind, payload: &[u8]) -> bool {
        match self.writer.lock().await.as_mut() {
            Some(w) => w.write_all(&encode_frame(kind, payload)).await.is_ok(),
            None => false,
        }
    }

    pub async fn resize(&self, h: u16, w: u16) {
        let mut p = Vec::with_capacity(4);
        p.extend_from_slice(&h.to_be_bytes());
        p.extend_from_slice(&w.to_be_bytes());
        self.send(FrameKind::Resize, &p).await;
    }
}

pub fn find(daemon: &Daemon, id: &str) -> Result<Arc<ExecInstance>, ApiError> {
    daemon
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_exec(id))
}

pub fn create(daemon: &Arc<Daemon>, c: &Arc<Container>, config: ExecConfig) -> Result<String> {
    let rec = c.snapshot();
    super::state::Status::of(&rec.state).can_exec(&rec.id)?;
    if config.cmd.as_ref().map(|c| c.is_empty()).unwrap_or(true) {
        return Err(ApiError::invalid("No exec command specified").into());
    }
    let id = crate::ids::new_id();
    let output = super::output::OutputHub::default();
    let (done, _) = watch::channel(false);
    let inst = Arc::new(ExecInstance {
        id: id.clone(),
        container_id: rec.id.clone(),
        config,
        state: Mutex::new(ExecState::default()),
        output,
        done,
        writer: tokio::sync::Mutex::new(None),
    });
    daemon
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), inst.clone());
    let cmd = inst.config.cmd.clone().unwrap_or_default().join(" ");
    daemon.container_event(c, &format!("exec_create: {cmd}"), &[("execID", id.clone())]);
    Ok(id)
}

pub fn inspect(inst: &ExecInstance) -> ExecInspect {
    let st = inst.state().clone();
    let cmd = inst.config.cmd.clone().unwrap_or_default();
    ExecInspect {
        id: inst.id.clone(),
        running: st.running,
        exit_code: st.exit_code,
        process_config: ProcessConfig {
            privileged: inst.config.privileged,
            user: inst.config.user.clone(),
            tty: inst.config.tty,
            entrypoint: cmd.first().cloned().unwrap_or_default(),
            arguments: cmd.iter().skip(1).cloned().collect(),
        },
        open_stdin: inst.config.attach_stdin,
        open_stderr: inst.config.attach_stderr,
        open_stdout: inst.config.attach_stdout,
        container_id: inst.container_id.clone(),
        detach_keys: inst.config.detach_keys.clone(),
        can_remove: !st.running,
        pid: st.pid,
    }
}

/// Writes process.json for the exec and spawns its monitor.
pub(super) async fn launch(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    inst: &Arc<ExecInstance>,
    tty: bool,
) -> Result<()> {
    let rec = c.snapshot();
    let paths = daemon.container_paths(&rec.id);
    let dir = daemon.exec_dir(&inst.id);
    berth_perms::create_dir_all(&dir, berth_perms::Mode::PRIVATE_DIR)
        .map_err(|e| DaemonError::io("create exec dir", e))?;
    let user_spec = if inst.config.user.is_empty() {
        rec.config.user.clone()
    } else {
        inst.config.user.clone()
    };
    let user = super::spec::resolve_user(
        &paths.rootfs(),
        &user_spec,
        rec.host_config.group_add.as_deref().unwrap_or(&[]),
    )?;
    let mut env_rec = rec.clone();
    let mut env = rec.config.env.clone().unwrap_or_default();
    for kv in inst.config.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    env_rec.config.env = Some(env);
    env_rec.config.tty = tty;
    let mut spec = berth_runtime::defaults::default_spec();
    let mut hc = rec.host_config.clone();
    if inst.config.privileged {
        hc.privileged = true;
    }
    super::spec_caps::apply(&mut spec, &hc)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(inst.config.cmd.clone());
    process.set_env(Some(super::spec::process_env(
        &env_rec,
        &rec.config.hostname,
        &user.home,
    )));
    let cwd = if !inst.config.working_dir.is_empty() {
        inst.config.working_dir.clone()
    } else if !rec.config.working_dir.is_empty() {
        rec.config.working_dir.clone()
    } else {
        "/".into()
    };
    process.set_cwd(cwd.into());
    process.set_terminal(Some(tty));
    // The container's process settings carry over to its execs, as in moby
    // (`--ulimit`, `--oom-score-adj`).
    let rlimits = super::host_options::rlimits(&hc, process.rlimits().clone().unwrap_or_default())?;
    process.set_rlimits(Some(rlimits));
    if hc.oom_score_adj != 0 {
        process.set_oom_score_adj(Some(hc.oom_score_adj as i32));
    }
    process.set_no_new_privileges(Some(super::spec::no_new_privileges(
        &rec,
        daemon.config.no_new_privileges,
    )));
    let mut u = process.user().clone();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    u.set_additional_gids(if user.additional_gids.is_empty() {
        None
    } else {
        Some(user.additional_gids)
    });
    process.set_user(u);
    let process_path = dir.join("process.json");
    berth_perms::write_file(
        &process_path,
        &serde_json::to_vec(&process).map_err(|e| DaemonError::Other(e.to_string()))?,
        berth_perms::Mode::SECRET_FILE,
    )
    .map_err(|e| DaemonError::io("write process.json", e))?;
    let mspec = MonitorSpec {
        bundle: dir.clone(),
        id: inst.id.clone(),
        log: None,
        tty,
        stdin: inst.config.attach_stdin,
        stdin_once: true,
        exec: Some((
            rec.state.pid,
            process_path,
            paths.bundle.join("config.json"),
        )),
        runtime: daemon
            .runtimes
            .get(&rec.host_config.runtime)?
            .oci()
            .map(|rt| (rt.clone(), rec.id.clone())),
    };
    let (pid, _monitor_pid) = monitor_link::spawn(daemon, &mspec).await?;
    let stream = monitor_link::connect_socket(&dir.join("monitor.sock"))
        .await
        .map_err(|e| DaemonError::io("connect to exec monitor", e))?;
    let (mut r, mut w) = stream.into_split();
    w.write_all(&encode_frame(FrameKind::Start, &[]))
        .await
        .map_err(|e| DaemonError::io("start exec", e))?;
    *inst.writer.lock().await = Some(w);
    {
        let mut st = inst.state();
        st.running = true;
        st.started = true;
        st.pid = pid;
    }
    let inst2 = inst.clone();
    let daemon2 = daemon.clone();
    let c2 = c.clone();
    tokio::spawn(async move {
        let status = monitor_link::relay_output(&mut r, &inst2.output).await;
        let status = status.or_else(|| monitor_link::read_exit_file(&dir.join("exit.json")));
        let code = status.map(|s| s.exit_code as i64).unwrap_or(126);
        {
            let mut st = inst2.state();
            st.running = false;
            st.exit_code = Some(code);
        }
        inst2.writer.lock().await.take();
        inst2.output.send(Output::Exit(code)).await;
        inst2.done.send_replace(true);
        let _ = std::fs::remove_dir_all(&dir);
        daemon2.container_event(
            &c2,
            "exec_die",
            &[("execID", inst2.id.clone()), ("exitCode", code.to_string())],
        );
    });
    Ok(())
}

pub async fn start(daemon: &Arc<Daemon>, inst: &Arc<ExecInstance>, req: &mut Req) -> HandlerResult {
    let body: ExecStartConfig = req.json().await?;
    let c = daemon.containers.find(&inst.container_id)?;
    {
        let st = inst.state();
        if st.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {} has already run",
                inst.id
            ))
            .into());
        }
    }
    if !c.is_running() {
        return Err(ApiError::conflict(format!("container {} is not running", c.id)).into());
    }
    // Claimed now: a second start must fail even while this one's process is starting.
    inst.state().started = true;
    let tty = body.tty || inst.config.tty;
    let cmd = inst.config.cmd.clone().unwrap_or_default().join(" ");
    if body.detach {
        launch(daemon, &c, inst, tty).await?;
        daemon.container_event(
            &c,
            &format!("exec_start: {cmd}"),
            &[("execID", inst.id.clone())],
        );
        return Ok(http::response(
            hyper::StatusCode::OK,
            Some("application/json"),
            http::empty(),
        ));
    }
    let sub = inst.output.subscribe();
    let upgrade = req.wants_upgrade();
    let on_upgrade = req.take_upgrade();
    let hijacked = upgrade && on_upgrade.is_some();
    let console_size = body.console_size.clone();
    // With a hijacked connection the process starts once the 101 answer is out, as dockerd
    // does: a client that reads the answer's head through a buffered reader (docker-py)
    // would otherwise swallow the first output that arrives in the same read.
    if !hijacked {
        start_process(daemon, &c, inst, tty, console_size.as_deref()).await;
    }
    daemon.container_event(
        &c,
        &format!("exec_start: {cmd}"),
        &[("execID", inst.id.clone())],
    );
    let wants = OutputWants {
        stdout: inst.config.attach_stdout,
        stderr: inst.config.attach_stderr,
        tty,
    };
    if !hijacked {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            let mut w = super::attach::ChannelWriter { tx };
            pump_output(sub, &mut w, wants).await;
        });
        let (parts, _) = hijack_head(false, tty).into_parts();
        return Ok(hyper::Response::from_parts(parts, http::channel_body(rx)));
    }
    let on_upgrade = on_upgrade.expect("checked above");
    let inst2 = inst.clone();
    let want_stdin = inst.config.attach_stdin;
    let (daemon2, c2) = (daemon.clone(), c.clone());
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        start_process(&daemon2, &c2, &inst2, tty, console_size.as_deref()).await;
        let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
        let out = pump_output(sub, &mut w, wants);
        let input = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if want_stdin && !inst2.send(FrameKind::Stdin, &buf[..n]).await {
                            break;
                        }
                    }
                }
            }
            if want_stdin {
                inst2.send(FrameKind::StdinClose, &[]).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = out => {}
            _ = input => {}
        }
        let _ = w.shutdown().await;
    });
    Ok(hijack_head(true, tty))
}

/// Launches an exec's process; a failure is reported like moby does it: written to the
/// client's stdout, with 127/126 recorded as the exec's exit code (which the CLI reads
/// from `GET /exec/{id}/json` and exits with).
async fn start_process(
    daemon: &Arc<Daemon>,
    c: &Arc<super::Container>,
    inst: &Arc<ExecInstance>,
    tty: bool,
    console_size: Option<&[u32]>,
) {
    match launch(daemon, c, inst, tty).await {
        Ok(()) => {
            if let Some(size) = console_size.filter(|s| s.len() == 2) {
                inst.resize(size[0] as u16, size[1] as u16).await;
            }
        }
        Err(e) => {
            let msg = e.to_api().message.replacen(
                "failed to create task for container: failed to create shim task: OCI runtime create failed",
                "OCI runtime exec failed: exec failed",
                1,
            )
            // An OCI runtime's own reason begins with "exec failed" already (runc's).
            .replacen("exec failed: exec failed:", "exec failed:", 1);
            let code = if msg.contains("executable file not found") || msg.contains("no such file")
            {
                127
            } else {
                126
            };
            {
                let mut st = inst.state();
                st.started = true;
                st.running = false;
                st.exit_code = Some(code);
            }
            let _ = std::fs::remove_dir_all(daemon.exec_dir(&inst.id));
            inst.output
                .send(Output::Data(1, Bytes::from(format!("{msg}\r\n"))))
                .await;
            inst.output.send(Output::Exit(code)).await;
            inst.done.send_replace(true);
        }
    }
}

/// Drops finished exec instances of removed containers (dockerd keeps them until then).
pub fn forget_container(daemon: &Daemon, container_id: &str) {
    daemon
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|_, e| e.container_id != container_id);
}
