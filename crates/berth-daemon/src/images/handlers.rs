//! `/images/...` endpoints. Image names contain '/', so routes match on the suffix.

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::server::http::{self, HandlerResult, Req};
use berth_api::filters::Filters;
use berth_api::image::{DeleteItem, HistoryItem, ImageInspect, ImagePruneResponse, RootFs};
use berth_api::progress::JsonMessage;
use berth_api::ApiError;
use berth_image::{Digest, ImportOptions, Reference};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use std::sync::Arc;

pub async fn route(daemon: &Arc<Daemon>, req: &mut Req, m: &Method, path: &str) -> HandlerResult {
    let rest = path
        .trim_start_matches("/images/")
        .trim_start_matches("/images");
    match (m, rest) {
        (&Method::GET, "json") => {
            let f = Filters::parse(req.q("filters").unwrap_or(""))?;
            let mut f = f;
            if let Some(filter) = req.q("filter").filter(|s| !s.is_empty()) {
                f.0.entry("reference".into())
                    .or_default()
                    .push(filter.to_string());
            }
            let shared = req.qbool("shared-size");
            let d = daemon.clone();
            let list = tokio::task::spawn_blocking(move || {
                let mut rows = d.images.summaries(&d, &f, false)?;
                if shared {
                    d.images.fill_shared_sizes(&mut rows, false);
                }
                Ok::<_, berth_api::error::ApiError>(rows)
            })
            .await
            .map_err(|e| DaemonError::Other(e.to_string()))??;
            Ok(http::json(StatusCode::OK, &list))
        }
        (&Method::POST, "create") => create(daemon, req).await,
        (&Method::POST, "load") => load(daemon, req).await,
        (&Method::GET, "get") => {
            let names = req.q_all("names");
            save(daemon, names).await
        }
        (&Method::POST, "prune") => {
            let f = Filters::parse(req.q("filters").unwrap_or(""))?;
            Ok(http::json(StatusCode::OK, &prune(daemon, &f).await?))
        }
        (&Method::GET, "search") => super::search::search(daemon, req).await,
        (&Method::DELETE, name) if !name.is_empty() => {
            let items = delete(daemon, name, req.qbool("force"), req.qbool("noprune")).await?;
            Ok(http::json(StatusCode::OK, &items))
        }
        (_, r) => {
            if let Some(name) = r.strip_suffix("/json").filter(|_| m == Method::GET) {
                return Ok(http::json(StatusCode::OK, &inspect(daemon, name)?));
            }
            if let Some(name) = r.strip_suffix("/history").filter(|_| m == Method::GET) {
                return Ok(http::json(StatusCode::OK, &history(daemon, name)?));
            }
            if let Some(name) = r.strip_suffix("/tag").filter(|_| m == Method::POST) {
                tag(
                    daemon,
                    name,
                    req.q("repo").unwrap_or(""),
                    req.q("tag").unwrap_or(""),
                )?;
                return Ok(http::response(StatusCode::CREATED, None, http::empty()));
            }
            if let Some(name) = r.strip_suffix("/get").filter(|_| m == Method::GET) {
                return save(daemon, vec![name.to_string()]).await;
            }
            if let Some(name) = r.strip_suffix("/push").filter(|_| m == Method::POST) {
                return super::push::push(daemon, req, name).await;
            }
            Err(ApiError::not_found("page not found").into())
        }
    }
}

fn progress_line(msg: &JsonMessage) -> Bytes {
    Bytes::from(msg.to_line())
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage` pulls.
async fn create(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let from_src = req.q("fromSrc").unwrap_or("").to_string();
    if from_src.is_empty() {
        return super::pull::pull(daemon, req).await;
    }
    if from_src != "-" {
        return Err(ApiError::invalid(
            "importing from a URL is not supported; send the tar in the request body (fromSrc=-)",
        )
        .into());
    }
    let repo = req.q("repo").unwrap_or("").to_string();
    let tag = req.q("tag").unwrap_or("").to_string();
    let target = if repo.is_empty() {
        None
    } else {
        let name = if tag.is_empty() {
            repo.clone()
        } else {
            format!("{repo}:{tag}")
        };
        Some(Reference::parse(&name)?)
    };
    let mut changes = berth_image::ContainerConfig::default();
    for change in req.q_all("changes") {
        for line in change.split('\n').filter(|l| !l.trim().is_empty()) {
            berth_image::import::apply_change(&mut changes, line)?;
        }
    }
    let opts = ImportOptions {
        changes,
        comment: req.q("message").map(str::to_string),
        platform: req
            .q("platform")
            .map(str::to_string)
            .filter(|p| !p.is_empty()),
        source: Some("-".into()),
    };
    let reader = req.body_reader();
    let d = daemon.clone();
    let result = tokio::task::spawn_blocking(move || {
        let r = berth_image::import_rootfs(&d.images.store, reader, opts);
        berth_runtime::sys::trim_heap();
        r
    })
    .await
    .map_err(|e| DaemonError::Other(e.to_string()))?;
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            // Errors after the head was sent go in the stream, as moby does.
            let body = JsonMessage::error(e.to_string()).to_line();
            return Ok(http::response(
                StatusCode::OK,
                Some("application/json"),
                http::full(body),
            ));
        }
    };
    let tags: Vec<String> = target.iter().map(|r| r.to_string()).collect();
    daemon.images.register(&*daemon.store, &id, &tags)?;
    daemon
        .events
        .publish("image", "import", &id.to_string(), Default::default());
    if let Some(t) = &target {
        daemon.events.publish(
            "image",
            "tag",
            &id.to_string(),
            [("name".to_string(), t.familiar())].into(),
        );
    }
    let body = progress_line(&JsonMessage::status(id.to_string()));
    Ok(http::response(
        StatusCode::OK,
        Some("application/json"),
        http::full(body),
    ))
}

async fn load(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let quiet = req.qbool("quiet");
    let reader = req.body_reader();
    let d = daemon.clone();
    let result = tokio::task::spawn_blocking(move || {
        let r = berth_image::load(&d.images.store, reader);
        berth_runtime::sys::trim_heap();
        r
    })
    .await
    .map_err(|e| DaemonError::Other(e.to_string()))?;
    let loaded = match result {
        Ok(l) => l,
        Err(e) => return Err(DaemonError::Image(e)),
    };
    let _ = quiet;
    let mut body = Vec::new();
    for img in &loaded {
        let moved = daemon
            .images
            .register(&*daemon.store, &img.id, &img.repo_tags)?;
        for (tag, previous) in &moved {
            if let Some(prev) = previous {
                let short = prev
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect::<String>();
                body.extend_from_slice(
                    &JsonMessage::stream(format!(
                        "The image {tag} already exists, renaming the old one with ID {prev} to empty string\n"
                    ))
                    .to_line(),
                );
                let _ = short;
            }
        }
        daemon
            .events
            .publish("image", "load", &img.id.to_string(), Default::default());
        if img.repo_tags.is_empty() {
            body.extend_from_slice(
                &JsonMessage::stream(format!("Loaded image ID: {}\n", img.id)).to_line(),
            );
        }
        for t in &img.repo_tags {
            let fam = Reference::parse(t)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| t.clone());
            body.extend_from_slice(
                &JsonMessage::stream(format!("Loaded image: {fam}\n")).to_line(),
            );
        }
    }
    Ok(http::response(
        StatusCode::OK,
        Some("application/json"),
        http::full(body),
    ))
}

async fn save(daemon: &Arc<Daemon>, names: Vec<String>) -> HandlerResult {
    if names.is_empty() {
        return Err(ApiError::invalid("no images specified").into());
    }
    let mut images: Vec<(Digest, Vec<String>)> = Vec::new();
    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    for name in &names {
        // moby's parseNames: a repository without tag saves all its tags; an ID saves the
        // image with no tag; a tagged name saves that tag.
        let last = name.rsplit('/').next().unwrap_or(name);
        let name_only = !last.contains(':') && !name.contains('@');
        let repo_tags = if name_only {
            daemon.images.tags_in_repository(name)
        } else {
            Vec::new()
        };
        if !repo_tags.is_empty() {
            wanted.extend(repo_tags);
            continue;
        }
        let id = daemon.images.resolve(name)?;
        let tags: Vec<String> = match daemon.images.ref_for_name(name) {
            Some(full) => vec![Reference::parse(&full)
                .map(|r| r.familiar())
                .unwrap_or(full)],
            None => Vec::new(),
        };
        wanted.push((id, tags));
    }
    for (id, tags) in wanted {
        let digest = Digest::parse(&id)?;
        match images.iter_mut().find(|(d, _)| *d == digest) {
            Some((_, t)) => {
                for x in tags {
                    if !t.contains(&x) {
                        t.push(x);
                    }
                }
            }
            None => images.push((digest, tags)),
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        let w = ChannelSyncWriter { tx };
        if let Err(e) = berth_image::save(&d.images.store, &images, w) {
            tracing::warn!("image save: {e}");
        }
    });
    for (id, _) in names.iter().zip(0..) {
        let _ = id;
    }
    Ok(http::streaming("application/x-tar", rx))
}

/// A blocking writer into a response body channel.
struct ChannelSyncWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl std::io::Write for ChannelSyncWriter {
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

fn inspect(daemon: &Arc<Daemon>, name: &str) -> Result<ImageInspect> {
    let id = daemon.images.resolve(name)?;
    let digest = Digest::parse(&id)?;
    let cfg = daemon.images.store.image_config(&digest)?;
    let config = daemon.images.container_config(&id)?;
    let size = daemon.images.image_size(&id);
    Ok(ImageInspect {
        id: id.clone(),
        repo_tags: daemon.images.tags_of(&id),
        repo_digests: daemon.images.digests_of(&id),
        parent: String::new(),
        comment: cfg.comment.clone().unwrap_or_default(),
        created: cfg.created.clone().unwrap_or_default(),
        docker_version: cfg.docker_version.clone().unwrap_or_default(),
        author: cfg.author.clone().unwrap_or_default(),
        config,
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone().unwrap_or_default(),
        os: cfg.os.clone(),
        size,
        graph_driver: serde_json::json!({
            "Name": "overlay2",
            "Data": {
                "LowerDir": daemon.images.lower_dirs(&id).unwrap_or_default().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
            }
        }),
        root_f_s: RootFs {
            kind: "layers".into(),
            layers: cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
        },
        metadata: serde_json::json!({ "LastTagTime": "0001-01-01T00:00:00Z" }),
    })
}

fn history(daemon: &Arc<Daemon>, name: &str) -> Result<Vec<HistoryItem>> {
    let id = daemon.images.resolve(name)?;
    let digest = Digest::parse(&id)?;
    let cfg = daemon.images.store.image_config(&digest)?;
    let chain = cfg.chain_ids();
    let mut layer_idx = 0usize;
    let mut items = Vec::new();
    for h in &cfg.history {
        let empty = h.empty_layer;
        let size = if empty {
            0
        } else {
            let s = chain
                .get(layer_idx)
                .and_then(|c| daemon.images.store.layer_size(c).ok())
                .unwrap_or(0);
            layer_idx += 1;
            s as i64
        };
        items.push(HistoryItem {
            id: "<missing>".into(),
            created: h
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0),
            created_by: h.created_by.clone().unwrap_or_default(),
            tags: vec![],
            size,
            comment: h.comment.clone().unwrap_or_default(),
        });
    }
    if items.is_empty() {
        items.push(HistoryItem {
            id: id.clone(),
            size: daemon.images.image_size(&id),
            ..Default::default()
        });
    }
    items.reverse();
    items[0].id = id.clone();
    items[0].tags = daemon.images.tags_of(&id);
    Ok(items)
}

fn tag(daemon: &Arc<Daemon>, name: &str, repo: &str, tag: &str) -> Result<()> {
    let id = daemon.images.resolve(name)?;
    if repo.is_empty() {
        return Err(ApiError::invalid("repository name must have at least one component").into());
    }
    if Reference::parse(repo).is_ok_and(|r| r.familiar_name() == "sha256") {
        return Err(ApiError::invalid(
            "refusing to create an ambiguous tag using digest algorithm as name",
        )
        .into());
    }
    if repo.contains('@') || (tag.is_empty() && repo.contains("@sha256:")) {
        return Err(ApiError::invalid("refusing to create a tag with a digest reference").into());
    }
    let full = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let r = Reference::parse(&full)?;
    if r.digest().is_some() {
        return Err(ApiError::invalid("refusing to create a tag with a digest reference").into());
    }
    daemon
        .images
        .register(&*daemon.store, &Digest::parse(&id)?, &[r.to_string()])?;
    daemon.events.publish(
        "image",
        "tag",
        &id,
        [("name".to_string(), r.familiar())].into(),
    );
    Ok(())
}

/// The `untag` event and the `{"Untagged": "busybox:latest"}` row for one removed name.
fn untagged(daemon: &Daemon, id: &str, full_ref: &str) -> DeleteItem {
    let fam = Reference::parse(full_ref)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full_ref.to_string());
    daemon.events.publish(
        "image",
        "untag",
        id,
        [("name".to_string(), fam.clone())].into(),
    );
    DeleteItem {
        untagged: Some(fam),
        deleted: None,
    }
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The names `docker rmi <full>` removes: `full`, and when it is a tag and no other tag of
/// its repository remains, the repository's digest references.
fn names_dropped_with(full: &str, refs: &[String]) -> Vec<String> {
    let mut out = vec![full.to_string()];
    let Ok(named) = Reference::parse(full) else {
        return out;
    };
    if named.digest().is_some() {
        return out;
    }
    let same_repo: Vec<Reference> = refs
        .iter()
        .filter(|r| r.as_str() != full)
        .filter_map(|r| Reference::parse(r).ok())
        .filter(|r| r.repository() == named.repository())
        .collect();
    if same_repo.iter().all(|r| r.digest().is_some()) {
        out.extend(same_repo.iter().map(|r| r.to_string()));
    }
    out
}

async fn delete(
    daemon: &Arc<Daemon>,
    name: &str,
    force: bool,
    _noprune: bool,
) -> Result<Vec<DeleteItem>> {
    let id = daemon.images.resolve(name)?;
    let by_name = daemon.images.ref_for_name(name);
    let refs = daemon.images.refs_of(&id);
    let users = daemon.containers.users_of_image(&id);
    let mut out = Vec::new();
    if let Some(full) = &by_name {
        // Deleting by name: just untag while other names remain (or with force and users).
        // The last tag of a repository takes that repository's digest references with it,
        // as in moby.
        let dropping = names_dropped_with(full, &refs);
        let last = refs.iter().all(|r| dropping.contains(r));
        if !last {
            for r in &dropping {
                daemon.images.untag(&*daemon.store, r)?;
                out.push(untagged(daemon, &id, r));
            }
            return Ok(out);
        }
        if let Some(c) = users.first() {
            let running = c.is_running();
            if !force || running {
                let fam = Reference::parse(full)
                    .map(|r| r.familiar_name())
                    .unwrap_or(full.clone());
                return Err(ApiError::conflict(format!(
                    "conflict: unable to remove repository reference \"{}\" (must force) - container {} is using its referenced image {}",
                    fam,
                    short(&c.id),
                    short(&id)
                ))
                .into());
            }
        }
    } else {
        if let Some(c) = users.first() {
            let running = c.is_running();
            if running {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    short(&id),
                    short(&c.id)
                ))
                .into());
            }
            if !force {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    short(&id),
                    short(&c.id)
                ))
                .into());
            }
        }
        if refs.len() > 1 && !force {
            return Err(ApiError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&id)
            ))
            .into());
        }
    }
    for r in &refs {
        out.push(untagged(daemon, &id, r));
    }
    if !users.is_empty() {
        // Forced while stopped containers use it: the names go, the content stays for them.
        for r in &refs {
            daemon.images.untag(&*daemon.store, r)?;
        }
        return Ok(out);
    }
    daemon.images.forget(&*daemon.store, &id)?;
    daemon
        .events
        .publish("image", "delete", &id, Default::default());
    out.push(DeleteItem {
        untagged: None,
        deleted: Some(id),
    });
    let d = daemon.clone();
    let _ = tokio::task::spawn_blocking(move || d.images.gc()).await;
    Ok(out)
}

async fn prune(daemon: &Arc<Daemon>, f: &Filters) -> Result<ImagePruneResponse> {
    f.validate(&["dangling", "label", "label!", "until"])?;
    let only_dangling = !matches!(
        f.get("dangling").first().map(String::as_str),
        Some("false" | "0")
    );
    let until = match f.get("until").first() {
        Some(u) => Some(crate::containers::prune::parse_until(u)?),
        None => None,
    };
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    let list = daemon
        .images
        .summaries(daemon, &Filters::default(), false)?;
    for img in list {
        if only_dangling && !img.repo_tags.is_empty() {
            continue;
        }
        if !daemon.containers.users_of_image(&img.id).is_empty() {
            continue;
        }
        if !f
            .get("label")
            .iter()
            .all(|l| berth_api::filters::label_matches(l, &img.labels))
        {
            continue;
        }
        if f.get("label!")
            .iter()
            .any(|l| berth_api::filters::label_matches(l, &img.labels))
        {
            continue;
        }
        if until.map(|u| img.created >= u).unwrap_or(false) {
            continue;
        }
        for t in &img.repo_tags {
            deleted.push(DeleteItem {
                untagged: Some(t.clone()),
                deleted: None,
            });
        }
        daemon.images.forget(&*daemon.store, &img.id)?;
        reclaimed += img.size.max(0) as u64;
        daemon
            .events
            .publish("image", "delete", &img.id, Default::default());
        deleted.push(DeleteItem {
            untagged: None,
            deleted: Some(img.id.clone()),
        });
    }
    let d = daemon.clone();
    let _ = tokio::task::spawn_blocking(move || d.images.gc()).await;
    daemon.events.publish(
        "image",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    );
    Ok(ImagePruneResponse {
        images_deleted: if deleted.is_empty() {
            None
        } else {
            Some(deleted)
        },
        space_reclaimed: reclaimed,
    })
}
