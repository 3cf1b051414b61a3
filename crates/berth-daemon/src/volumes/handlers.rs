//! The `/volumes` verbs of the Engine API.

use super::{users, volume_event, VolumeRecord};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::filters::{label_matches, Filters};
use berth_api::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use berth_api::ApiError;
use hyper::{Method, StatusCode};
use std::sync::Arc;

/// Routes `/volumes/...` (the part after `volumes`).
pub async fn route(
    daemon: &Arc<Daemon>,
    req: &mut Req,
    m: &Method,
    rest: &[&str],
) -> HandlerResult {
    use Method as M;
    let filters = |req: &Req| Filters::parse(req.q("filters").unwrap_or(""));
    match (m, rest) {
        (&M::GET, []) => {
            let f = filters(req)?;
            Ok(http::json(StatusCode::OK, &list(daemon, &f)?))
        }
        (&M::POST, ["create"]) => {
            let body: VolumeCreateRequest = req.json().await?;
            Ok(http::json(StatusCode::CREATED, &create(daemon, body)?))
        }
        (&M::POST, ["prune"]) => {
            let f = filters(req)?;
            let legacy =
                berth_api::version::parse(&req.version) < berth_api::version::parse("1.42");
            let d = daemon.clone();
            let r = tokio::task::spawn_blocking(move || prune(&d, &f, legacy))
                .await
                .map_err(|e| crate::DaemonError::Other(e.to_string()))??;
            Ok(http::json(StatusCode::OK, &r))
        }
        (&M::GET, [name]) => {
            let v = daemon.volumes.get(name)?;
            Ok(http::json(StatusCode::OK, &daemon.volumes.resource(&v)))
        }
        (&M::DELETE, [name]) => {
            remove(daemon, name, req.qbool("force"))?;
            Ok(http::no_content())
        }
        _ => Err(ApiError::not_found("page not found").into()),
    }
}

/// `POST /volumes/create`; an empty name makes an anonymous-looking random one, as Docker.
pub fn create(daemon: &Daemon, req: VolumeCreateRequest) -> Result<Volume> {
    let name = if req.name.is_empty() {
        super::anonymous_name()
    } else {
        req.name.clone()
    };
    let (v, made) = daemon.volumes.create(
        &*daemon.store,
        &name,
        &req.driver,
        req.labels.unwrap_or_default(),
        req.driver_opts.unwrap_or_default(),
    )?;
    if made {
        volume_event(daemon, &name, "create");
    }
    Ok(daemon.volumes.resource(&v))
}

fn in_use_error(name: &str, ids: &[String]) -> ApiError {
    ApiError::conflict(format!(
        "remove {name}: volume is in use - [{}]",
        ids.join(", ")
    ))
}

/// `DELETE /volumes/{name}`: refused while any container refers to it; `force` only
/// forgives a missing volume.
pub fn remove(daemon: &Daemon, name: &str, force: bool) -> Result<()> {
    if let Err(e) = daemon.volumes.get(name) {
        return if force { Ok(()) } else { Err(e.into()) };
    }
    let ids = users(daemon, name);
    if !ids.is_empty() {
        return Err(in_use_error(name, &ids).into());
    }
    daemon.volumes.delete(&*daemon.store, name)?;
    volume_event(daemon, name, "destroy");
    Ok(())
}

fn matches(daemon: &Daemon, v: &VolumeRecord, f: &Filters) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let vals = f.get(key);
        vals.is_empty() || vals.iter().any(|x| test(x))
    };
    if !f.matches("name", &v.name) || !any("driver", &|d| d == v.driver) {
        return false;
    }
    if !f.get("label").iter().all(|l| label_matches(l, &v.labels))
        || f.get("label!").iter().any(|l| label_matches(l, &v.labels))
    {
        return false;
    }
    if let Some(d) = f.get("dangling").first() {
        let want = matches!(d.as_str(), "true" | "1");
        if want != users(daemon, &v.name).is_empty() {
            return false;
        }
    }
    true
}

/// `GET /volumes`.
pub fn list(daemon: &Daemon, f: &Filters) -> Result<VolumeListResponse> {
    f.validate(&["dangling", "driver", "label", "label!", "name"])?;
    for d in f.get("dangling") {
        if !matches!(d.as_str(), "true" | "false" | "1" | "0") {
            return Err(ApiError::invalid(format!(
                "invalid filter 'dangling={d}': invalid boolean value"
            ))
            .into());
        }
    }
    let vols = daemon
        .volumes
        .all()
        .into_iter()
        .filter(|v| matches(daemon, v, f))
        .map(|v| daemon.volumes.resource(&v))
        .collect();
    Ok(VolumeListResponse {
        volumes: Some(vols),
        warnings: None,
    })
}

/// `POST /volumes/prune`: unused volumes; from API 1.42 only anonymous ones unless
/// `all=true` (Docker 23+).
pub fn prune(daemon: &Daemon, f: &Filters, legacy: bool) -> Result<VolumePruneResponse> {
    f.validate(&["label", "label!", "all"])?;
    let all = legacy
        || f.get("all")
            .iter()
            .any(|v| matches!(v.as_str(), "true" | "1"));
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for v in daemon.volumes.all() {
        if !all && !v.is_anonymous() {
            continue;
        }
        // A volume with driver options (a tmpfs, an NFS or device mount) is never pruned,
        // as in moby: its data may live outside Docker's control.
        if !v.options.is_empty() {
            continue;
        }
        if !f.get("label").iter().all(|l| label_matches(l, &v.labels))
            || f.get("label!").iter().any(|l| label_matches(l, &v.labels))
        {
            continue;
        }
        if !users(daemon, &v.name).is_empty() {
            continue;
        }
        let size = super::dir_size(&daemon.volumes.data_dir(&v.name)).max(0) as u64;
        if daemon.volumes.delete(&*daemon.store, &v.name).is_ok() {
            volume_event(daemon, &v.name, "destroy");
            reclaimed += size;
            deleted.push(v.name.clone());
        }
    }
    daemon.events.publish(
        "volume",
        "prune",
        "",
        std::collections::BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
    );
    Ok(VolumePruneResponse {
        volumes_deleted: Some(deleted),
        space_reclaimed: reclaimed,
    })
}

/// The `Volumes` part of `GET /system/df`: each volume with its size and users.
pub fn disk_usage(daemon: &Daemon) -> Vec<Volume> {
    daemon
        .volumes
        .all()
        .into_iter()
        .map(|v| {
            let mut r = daemon.volumes.resource(&v);
            r.usage_data = Some(berth_api::volume::UsageData {
                size: super::dir_size(&daemon.volumes.data_dir(&v.name)),
                ref_count: users(daemon, &v.name).len() as i64,
            });
            r
        })
        .collect()
}
