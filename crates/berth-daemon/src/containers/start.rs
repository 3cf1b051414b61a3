//! `POST /containers/{id}/start`: mount the rootfs, write the bundle, spawn the monitor.

use super::monitor_link::{self, MonitorSpec};
use super::state::Transition;
use super::{Container, Lifecycle};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::phase::phase;
use berth_api::ApiError;
use std::sync::Arc;

pub async fn start(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _guard = c.op_lock.lock().await;
    c.status().can_start(&c.id)?;
    // A user's start starts the restart policy afresh (moby's ResetRestartManager).
    {
        let mut r = c.rec();
        r.manually_stopped = false;
        r.restart_count = 0;
    }
    start_locked(daemon, c).await
}

/// Starts a container; the caller holds `op_lock`.
pub async fn start_locked(daemon: &Arc<Daemon>, c: &Arc<Container>) -> Result<()> {
    let _whole = phase("start", &c.id);
    // Addresses and published ports first: /etc/hosts names the container's addresses.
    let net_phase = phase("start.network.prepare", &c.id);
    let mut net_prep = match crate::networks::endpoints::prepare(daemon, c) {
        Ok(p) => p,
        Err(e) => {
            start_failed(c, e.to_string());
            let _ = daemon.persist(c);
            end_failed_start(daemon, c);
            return Err(e);
        }
    };
    drop(net_phase);
    let rec = c.snapshot();
    let etc_phase = phase("start.etc_files", &c.id);
    let etc = match crate::networks::etc_files::generate(daemon, &rec) {
        Ok(f) => f,
        Err(e) => {
            abandon_start(daemon, c, e.message.clone()).await;
            return Err(e.into());
        }
    };
    drop(etc_phase);
    net_prep.dns_upstreams = etc.dns_upstreams.clone();
    // `--network container:<id>`: the other container's network namespace.
    let join_netns = match rec.host_config.network_mode.strip_prefix("container:") {
        Some(target) => {
            let other = daemon.containers.find(target)?;
            let pid = other.rec().state.pid;
            if !other.is_running() || pid <= 0 {
                crate::networks::endpoints::release(daemon, c).await;
                end_failed_start(daemon, c);
                return Err(ApiError::conflict(format!(
                    "cannot join network namespace of a non running container: container {} is not running",
                    other.id
                ))
                .into());
            }
            Some(std::path::PathBuf::from(format!("/proc/{pid}/ns/net")))
        }
        None => None,
    };
    let runtime = match daemon.runtimes.get(&rec.host_config.runtime) {
        Ok(r) => r.oci().cloned(),
        Err(e) => {
            abandon_start(daemon, c, e.message.clone()).await;
            return Err(e.into());
        }
    };
    let for_oci = runtime.is_some();
    let resolve_phase = phase("start.volumes_and_namespaces", &c.id);
    let volume_mounts = match crate::volumes::mounts::resolve(daemon, &rec) {
        Ok(v) => v,
        Err(e) => {
            abandon_start(daemon, c, e.to_string()).await;
            return Err(e);
        }
    };
    let paths = daemon.container_paths(&rec.id);
    // `--pid`/`--ipc container:` donors and the /dev/shm that goes with the IPC mode.
    let shared = match super::namespaces::resolve(daemon, &paths, &rec.host_config) {
        Ok(s) => s,
        Err(e) => {
            abandon_start(daemon, c, e.to_string()).await;
            return Err(e);
        }
    };
    drop(resolve_phase);
    let lowers = daemon.images.lower_dirs(&rec.image_id)?;
    let cgroup = daemon.cgroup_path(&rec);
    let prep_paths = paths.clone();
    let prep_rec = rec.clone();
    let nnp_default = daemon.config.no_new_privileges;
    let remap = daemon.config.remap.clone();
    let bundle_phase = phase("start.rootfs_and_bundle", &c.id);
    let prepared = tokio::task::spawn_blocking(move || -> Result<()> {
        // upper/ and rootfs/ keep 0755: the overlay's root directory is the container's `/`.
        for d in [prep_paths.upper(), prep_paths.work(), prep_paths.rootfs()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| DaemonError::io(format!("create {}", d.display()), e))?;
        }
        berth_perms::create_dir_all(&prep_paths.bundle, berth_perms::Mode::PRIVATE_DIR)
            .map_err(|e| DaemonError::io(format!("create {}", prep_paths.bundle.display()), e))?;
        let _ = std::fs::remove_file(prep_paths.exit_file());
        crate::userns::prepare_container_dirs(remap.as_ref(), &prep_paths)?;
        let mount_phase = phase("start.rootfs_and_bundle.overlay", &prep_rec.id);
        berth_image::snapshot::mount_overlay(
            &lowers,
            &prep_paths.upper(),
            &prep_paths.work(),
            &prep_paths.rootfs(),
        )
        .map_err(|e| DaemonError::Other(format!("mount rootfs of {}: {e}", prep_rec.id)))?;
        drop(mount_phase);
        let built = (|| {
            if shared.mount_own_shm {
                let owner = remap.as_ref().map_or((0, 0), |r| (r.root_uid, r.root_gid));
                super::namespaces::mount_own_shm(
                    &prep_paths,
                    prep_rec.host_config.shm_size,
                    owner,
                )?;
            }
            crate::volumes::mounts::populate(&volume_mounts, &prep_paths.rootfs())?;
            super::spec::write_etc_files(&prep_rec, &prep_paths, &etc)?;
            crate::userns::chown_etc_files(remap.as_ref(), &prep_paths)?;
            let mut spec = super::spec::build(&prep_rec, &prep_paths, &cgroup)?;
            crate::volumes::mounts::apply_to_spec(&mut spec, &volume_mounts)?;
            super::namespaces::apply(&mut spec, &prep_rec.host_config, &shared)?;
            crate::userns::apply_to_spec(&mut spec, remap.as_ref(), &prep_rec.host_config)?;
            if let Some(path) = &join_netns {
                crate::networks::endpoints::join_netns(&mut spec, path);
            }
            if let Some(p) = spec.process_mut().as_mut() {
                let nnp = super::spec::no_new_privileges(&prep_rec, nnp_default);
                p.set_no_new_privileges(Some(nnp));
            }
            if for_oci {
                super::spec_oci::for_oci_runtime(&mut spec)?;
            }
            let json =
                serde_json::to_vec_pretty(&spec).map_err(|e| DaemonError::Other(e.to_string()))?;
            berth_perms::write_file(
                &prep_paths.bundle.join("config.json"),
                &json,
                berth_perms::Mode::SECRET_FILE,
            )
            .map_err(|e| DaemonError::io("write config.json", e))
        })();
        if built.is_err() {
            let _ = berth_image::snapshot::unmount(&prep_paths.rootfs());
            super::namespaces::release_shm(&prep_paths);
        }
        built
    })
    .await
    .map_err(|e| DaemonError::Other(format!("start task: {e}")))?;
    drop(bundle_phase);
    if let Err(e) = prepared {
        abandon_start(daemon, c, e.to_string()).await;
        return Err(e);
    }

    let log_opts = rec
        .host_config
        .log_config
        .config
        .clone()
        .unwrap_or_default();
    let log = if rec.host_config.log_config.kind == "none" {
        None
    } else {
        // Validated at create; a config from an older record falls back to defaults.
        let opts =
            super::logs::options::parse(&log_opts).unwrap_or(super::logs::options::JsonFileOpts {
                max_size: None,
                max_file: 1,
                compress: false,
            });
        let path = paths.log(&rec.id);
        let attrs = super::logs::options::extra_attrs(&log_opts, &rec, &path.to_string_lossy());
        Some(monitor_link::LogSpec {
            path,
            max_size: opts.max_size,
            max_file: opts.max_file,
            compress: opts.compress,
            attrs: berth_runtime::logfile::attrs_json(&attrs),
        })
    };
    let spec = MonitorSpec {
        bundle: paths.bundle.clone(),
        id: rec.id.clone(),
        log,
        tty: rec.config.tty,
        stdin: rec.config.open_stdin,
        stdin_once: rec.config.stdin_once,
        exec: None,
        runtime: runtime.map(|rt| (rt, rec.id.clone())),
    };
    let monitor_phase = phase("start.monitor_and_runtime", &c.id);
    let (pid, monitor_pid) = match monitor_link::spawn(daemon, &spec).await {
        Ok(p) => p,
        Err(e) => {
            let failed_paths = paths.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = berth_image::snapshot::unmount(&failed_paths.rootfs());
                super::namespaces::release_shm(&failed_paths);
                let _ = std::fs::remove_dir_all(&failed_paths.bundle);
            })
            .await;
            let msg = e.to_api().message;
            let exit_code =
                if msg.contains("executable file not found") || msg.contains("no such file") {
                    127
                } else if msg.contains("permission denied") {
                    126
                } else {
                    128
                };
            let _ = c.transition(Transition::StartFailed {
                exit_code,
                error: msg,
            });
            crate::networks::endpoints::release(daemon, c).await;
            let _ = daemon.persist(c);
            end_failed_start(daemon, c);
            return Err(e);
        }
    };
    drop(monitor_phase);
    // The init exists but has not started: give it its network before it runs.
    let plumb_phase = phase("start.network.plumb", &c.id);
    if let Err(e) = crate::networks::endpoints::plumb(daemon, c, pid, net_prep).await {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let failed_paths = paths.clone();
        let _ = tokio::task::spawn_blocking(move || {
            // The monitor sees its child die and exits; then the rootfs can go.
            for _ in 0..100 {
                if berth_image::snapshot::unmount(&failed_paths.rootfs()).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            super::namespaces::release_shm(&failed_paths);
            let _ = std::fs::remove_dir_all(&failed_paths.bundle);
        })
        .await;
        crate::networks::endpoints::release(daemon, c).await;
        let _ = c.transition(Transition::StartFailed {
            exit_code: 128,
            error: e.to_string(),
        });
        let _ = daemon.persist(c);
        end_failed_start(daemon, c);
        return Err(e);
    }
    drop(plumb_phase);
    let record_phase = phase("start.record", &c.id);
    c.transition(Transition::Started {
        pid,
        started_at: super::now_rfc3339(),
    })
    .map_err(|e| DaemonError::Other(e.to_string()))?;
    {
        let mut r = c.rec();
        r.has_been_started = true;
        r.monitor_pid = monitor_pid;
    }
    c.lifecycle
        .send_modify(|l: &mut Lifecycle| l.running = true);
    super::health::init(daemon, c);
    daemon.persist(c)?;
    // Before the link: a container that exits at once must not show `unmount` first.
    crate::networks::endpoints::endpoint_events(daemon, c, "connect");
    let plan = c.rec().mount_plan.clone();
    crate::volumes::mount_events(daemon, &c.id, &plan);
    drop(record_phase);
    let _link = phase("start.link", &c.id);
    monitor_link::link_container(daemon, c, true).await?;
    daemon.container_event(c, "start", &[]);
    Ok(())
}

/// A start that failed before its process existed: the endpoints go back, the reason is
/// recorded and persisted, and waiting clients are told.
async fn abandon_start(daemon: &Arc<Daemon>, c: &Arc<Container>, error: String) {
    crate::networks::endpoints::release(daemon, c).await;
    start_failed(c, error);
    let _ = daemon.persist(c);
    end_failed_start(daemon, c);
}

/// Records why a start failed (the exit code stays as it was).
fn start_failed(c: &Container, error: String) {
    let exit_code = c.rec().state.exit_code;
    let _ = c.transition(Transition::StartFailed { exit_code, error });
}

/// After a start that failed: attached clients (`docker run`) see their stream end, and an
/// auto-remove container goes away, as the `--rm` caller waits for that.
fn end_failed_start(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    let code = c.rec().state.exit_code;
    c.output.send_now(super::Output::Exit(code));
    if c.rec().host_config.auto_remove {
        let (d, c2) = (daemon.clone(), c.clone());
        tokio::spawn(async move {
            // The caller holds op_lock; removal takes it after we return.
            let _ = super::remove::remove(&d, &c2, true, true).await;
        });
    }
}
