//! `docker cp` and `docker export`: `HEAD|GET|PUT /containers/{id}/archive` and
//! `GET /containers/{id}/export`.
//!
//! Where a path is looked up:
//! - running (or paused) container: relative to an fd of `/proc/<pid>/root`, so the
//!   lookup sees exactly the container's mount namespace (its volumes, bind mounts,
//!   tmpfs) and nothing else;
//! - stopped container: reads go to a private read-only overlay of the upper dir over the
//!   image layers (mounted, opened, then detached at once); writes mount the container's
//!   own rootfs for the duration of the request, under the container's `op_lock`; a path
//!   under a volume or bind mount is looked up in the mount's source.
//!
//! Every lookup below that root fd is `openat2(RESOLVE_IN_ROOT)` and fd-relative
//! (`berth_image::copy`), and the tar work is done by the daemon itself: nothing from the
//! container is ever run or loaded (CVE-2018-15664, CVE-2019-14271).

use super::Container;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::server::http::{self, HandlerResult, Req};
use base64::Engine;
use berth_api::ApiError;
use berth_image::copy::{self, CpPath, ExtractPointError};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn not_found(path: &CpPath, name: &str) -> DaemonError {
    ApiError::not_found(format!(
        "Could not find the file {} in container {name}",
        path.display()
    ))
    .into()
}

fn io_err(what: &str, e: std::io::Error) -> DaemonError {
    DaemonError::Other(format!("{what}: {e}"))
}

/// A read-only overlay of a stopped container, mounted only long enough to open it.
fn open_stopped_view(daemon: &Daemon, c: &Container) -> Result<OwnedFd> {
    let rec = c.snapshot();
    let paths = daemon.container_paths(&rec.id);
    let mut lowers = Vec::new();
    if paths.upper().is_dir() {
        lowers.push(paths.upper());
    }
    lowers.extend(daemon.images.lower_dirs(&rec.image_id)?);
    let mut suffix = [0u8; 6];
    let _ = getrandom::getrandom(&mut suffix);
    let target = paths.dir.join(format!(".view-{}", hex::encode(suffix)));
    std::fs::create_dir_all(&target).map_err(|e| DaemonError::io("create view dir", e))?;
    let mounted = berth_image::snapshot::mount_readonly(&lowers, &target);
    let fd = mounted
        .map_err(DaemonError::from)
        .and_then(|_| copy::open_root(&target).map_err(|e| io_err("open view", e)));
    // Detached while we hold the fd: nobody else sees it, and it goes when we close it.
    let _ = berth_image::snapshot::unmount(&target);
    let _ = std::fs::remove_dir(&target);
    fd
}

/// The fd of `/proc/<pid>/root` of a running container, checked against pid reuse.
fn open_running_root(c: &Container) -> Option<OwnedFd> {
    let (running, pid) = {
        let r = c.rec();
        (r.state.running, r.state.pid)
    };
    if !running || pid <= 0 {
        return None;
    }
    let fd = copy::open_root(Path::new(&format!("/proc/{pid}/root"))).ok()?;
    let r = c.rec();
    (r.state.running && r.state.pid == pid).then_some(fd)
}

/// For a stopped container: the mount (destination, source, rw) a path is under.
fn mount_for(c: &Container, p: &CpPath) -> Option<(CpPath, PathBuf, bool)> {
    let rec = c.rec();
    let mut best: Option<(usize, CpPath, PathBuf, bool)> = None;
    for m in &rec.mounts {
        if m.source.is_empty() {
            continue;
        }
        let dest = CpPath::parse(&m.destination);
        if dest.comps.is_empty() || p.comps.len() < dest.comps.len() {
            continue;
        }
        if p.comps[..dest.comps.len()] != dest.comps[..] {
            continue;
        }
        if best.as_ref().is_some_and(|b| b.0 >= dest.comps.len()) {
            continue;
        }
        let rel = CpPath {
            comps: p.comps[dest.comps.len()..].to_vec(),
            follow_last: p.follow_last || p.comps.len() == dest.comps.len(),
            name: p.name.clone(),
        };
        best = Some((dest.comps.len(), rel, PathBuf::from(&m.source), m.rw));
    }
    best.map(|(_, rel, src, rw)| (rel, src, rw))
}

/// Where to read `p`: a root fd and the path relative to it.
fn read_view(daemon: &Daemon, c: &Container, p: &CpPath) -> Result<(OwnedFd, CpPath)> {
    if let Some(fd) = open_running_root(c) {
        return Ok((fd, p.clone()));
    }
    if let Some((rel, src, _)) = mount_for(c, p) {
        let fd = copy::open_root(&src).map_err(|e| io_err("open mount source", e))?;
        return Ok((fd, rel));
    }
    Ok((open_stopped_view(daemon, c)?, p.clone()))
}

fn stat_header(st: &copy::PathStat) -> Result<HeaderValue> {
    let json = serde_json::to_vec(st).map_err(|e| DaemonError::Other(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| DaemonError::Other(e.to_string()))
}

fn path_param(req: &Req) -> Result<CpPath> {
    match req.q("path") {
        Some(p) if !p.is_empty() => Ok(CpPath::parse(p)),
        _ => Err(ApiError::invalid("bad parameter: path cannot be empty").into()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DaemonError::Other(format!("archive task: {e}")))?
}

/// `HEAD /containers/{id}/archive?path=`
pub async fn head(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    name: &str,
    req: &Req,
) -> HandlerResult {
    let p = path_param(req)?;
    let (d, c2, name) = (daemon.clone(), c.clone(), name.to_string());
    let st = blocking(move || {
        let (root, rel) = read_view(&d, &c2, &p)?;
        copy::stat(root.as_fd(), &rel).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_found(&p, &name),
            _ => io_err("stat", e),
        })
    })
    .await?;
    let mut resp = http::response(StatusCode::OK, None, http::empty());
    resp.headers_mut().insert(STAT_HEADER, stat_header(&st)?);
    Ok(resp)
}

/// A blocking writer into a response body channel, in 64 KiB chunks.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tar_stream(
    work: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<u64> + Send + 'static,
) -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter { tx });
        if let Err(e) = work(&mut w) {
            tracing::warn!("archive stream: {e}");
        }
        // An error mid-stream ends the body early; the client sees a truncated tar.
    });
    rx
}

/// `GET /containers/{id}/archive?path=`
pub async fn get(daemon: &Arc<Daemon>, c: &Arc<Container>, name: &str, req: &Req) -> HandlerResult {
    let p = path_param(req)?;
    // berth's own extension (`berth volume export`): files with holes as sparse entries.
    let opts = copy::TarOptions {
        sparse: req.qbool("sparse"),
    };
    let (d, c2, name) = (daemon.clone(), c.clone(), name.to_string());
    let (root, rel, st) = blocking(move || {
        let (root, rel) = read_view(&d, &c2, &p)?;
        let st = copy::stat(root.as_fd(), &rel).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_found(&p, &name),
            _ => io_err("stat", e),
        })?;
        Ok((root, rel, st))
    })
    .await?;
    let rx = tar_stream(move |w| copy::write_tar_with(root.as_fd(), &rel, opts, w));
    let mut resp = http::streaming("application/x-tar", rx);
    resp.headers_mut().insert(STAT_HEADER, stat_header(&st)?);
    Ok(resp)
}

/// `GET /containers/{id}/export`: a flat tar of the container's filesystem (without its
/// volumes and bind mounts, as Docker's).
pub async fn export(daemon: &Arc<Daemon>, c: &Arc<Container>) -> HandlerResult {
    let (d, c2) = (daemon.clone(), c.clone());
    let root = blocking(move || {
        let rootfs = d.container_paths(&c2.id).rootfs();
        if c2.is_running() {
            if let Ok(fd) = copy::open_root(&rootfs) {
                return Ok(fd);
            }
        }
        open_stopped_view(&d, &c2)
    })
    .await?;
    daemon.container_event(c, "export", &[]);
    let rx = tar_stream(move |w| copy::write_tree_tar(root.as_fd(), w));
    Ok(http::streaming("application/x-tar", rx))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`
pub async fn put(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    name: &str,
    req: &mut Req,
) -> HandlerResult {
    let p = path_param(req)?;
    let no_overwrite = req.qbool("noOverwriteDirNonDir");
    let copy_uid_gid = req.qbool("copyUIDGID");
    // Docker's checks: a read-only volume, or a read-only rootfs outside any volume.
    let (readonly_rootfs, user, mounts, hc) = {
        let r = c.rec();
        (
            r.host_config.readonly_rootfs,
            r.config.user.clone(),
            r.mounts.clone(),
            r.host_config.clone(),
        )
    };
    let abs = CpPath::parse(&p.display());
    let in_mount = mounts.iter().find(|m| {
        let dest = CpPath::parse(&m.destination);
        !dest.comps.is_empty()
            && abs.comps.len() >= dest.comps.len()
            && abs.comps[..dest.comps.len()] == dest.comps[..]
    });
    match in_mount {
        Some(m) if !m.rw => {
            return Err(ApiError::invalid("mounted volume is marked read-only").into())
        }
        None if readonly_rootfs => {
            return Err(ApiError::invalid("container rootfs is marked read-only").into())
        }
        _ => {}
    }
    let map =
        crate::userns::container_remapped(daemon.config.remap.as_ref(), &hc).map(|r| r.map.clone());
    let body = req.body_reader();

    if c.is_running() {
        let root = open_running_root(c)
            .ok_or_else(|| DaemonError::Other(format!("container {} stopped", c.id)))?;
        let root_path = PathBuf::from(format!("/proc/{}/root", c.rec().state.pid));
        let name = name.to_string();
        blocking(move || {
            extract(
                root,
                &root_path,
                &p,
                &name,
                copy_uid_gid,
                &user,
                no_overwrite,
                map,
                body,
            )
        })
        .await?;
        return Ok(http::response(StatusCode::OK, None, http::empty()));
    }

    // Stopped: the container's own rootfs, mounted for this request only.
    let _guard = c.op_lock.lock().await;
    if c.is_running() {
        return Err(ApiError::conflict("container started during the copy; try again").into());
    }
    let paths = daemon.container_paths(&c.id);
    let lowers = daemon.images.lower_dirs(&c.rec().image_id)?;
    let remap = daemon.config.remap.clone();
    let c2 = c.clone();
    let name = name.to_string();
    blocking(move || {
        for d in [paths.upper(), paths.work(), paths.rootfs()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| DaemonError::io(format!("create {}", d.display()), e))?;
        }
        crate::userns::prepare_container_dirs(remap.as_ref(), &paths)?;
        let rootfs = paths.rootfs();
        berth_image::snapshot::mount_overlay(&lowers, &paths.upper(), &paths.work(), &rootfs)?;
        let res = (|| {
            let (root, rel, root_path) = match mount_for(&c2, &p) {
                Some((rel, src, _)) => (
                    copy::open_root(&src).map_err(|e| io_err("open mount source", e))?,
                    rel,
                    rootfs.clone(),
                ),
                None => (
                    copy::open_root(&rootfs).map_err(|e| io_err("open rootfs", e))?,
                    p.clone(),
                    rootfs.clone(),
                ),
            };
            extract_at(
                root,
                &root_path,
                &rel,
                &p,
                &name,
                copy_uid_gid,
                &user,
                no_overwrite,
                map,
                body,
            )
        })();
        let _ = berth_image::snapshot::unmount(&rootfs);
        res
    })
    .await?;
    Ok(http::response(StatusCode::OK, None, http::empty()))
}

#[allow(clippy::too_many_arguments)]
fn extract(
    root: OwnedFd,
    root_path: &Path,
    p: &CpPath,
    name: &str,
    copy_uid_gid: bool,
    user: &str,
    no_overwrite: bool,
    map: Option<berth_image::idmap::IdMap>,
    body: impl std::io::Read,
) -> Result<()> {
    extract_at(
        root,
        root_path,
        p,
        p,
        name,
        copy_uid_gid,
        user,
        no_overwrite,
        map,
        body,
    )
}

#[allow(clippy::too_many_arguments)]
fn extract_at(
    root: OwnedFd,
    root_path: &Path,
    rel: &CpPath,
    shown: &CpPath,
    name: &str,
    copy_uid_gid: bool,
    user: &str,
    no_overwrite: bool,
    map: Option<berth_image::idmap::IdMap>,
    body: impl std::io::Read,
) -> Result<()> {
    let dir = copy::open_extract_dir(root.as_fd(), rel).map_err(|e| match e {
        ExtractPointError::NotFound => not_found(shown, name),
        ExtractPointError::NotDirectory => {
            ApiError::invalid("extraction point is not a directory").into()
        }
        ExtractPointError::Io(e) => io_err("open extraction point", e),
    })?;
    // `-a`: everything belongs to the container's configured user (Docker's rule).
    let owner = if copy_uid_gid && !user.is_empty() {
        let u = super::spec::resolve_user(root_path, user, &[])?;
        Some((u.uid, u.gid))
    } else {
        None
    };
    let (_, plain) = berth_image::compression::decompress(body)
        .map_err(|e| ApiError::invalid(format!("read archive: {e}")))?;
    let opts = berth_image::unpack::ExtractOptions {
        owner,
        no_overwrite_dir_non_dir: no_overwrite,
        map,
        rebase: None,
    };
    berth_image::unpack::extract_into(plain, dir, opts).map_err(|e| match e {
        berth_image::Error::UnsafeEntry { .. } => ApiError::invalid(e.to_string()).into(),
        e => DaemonError::from(e),
    })?;
    Ok(())
}
