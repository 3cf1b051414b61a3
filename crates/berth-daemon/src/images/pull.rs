//! `POST /images/create?fromImage=`: a pull, streamed as moby streams it.

use crate::daemon::Daemon;
use crate::error::Result;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_api::{ApiError, ErrorKind};
use berth_image::Reference;
use berth_registry::{Credentials, LayerStatus, PullEvent, PullRequest};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The reference a pull request names: `fromImage` plus `tag`, where the tag may be a
/// digest (the docker CLI sends `tag=sha256:…` for `name@sha256:…`). A repository with
/// neither tag nor digest means every tag (`docker pull --all-tags`): `None` then.
fn requested_reference(image: &str, tag: &str) -> Result<(Reference, bool)> {
    let name = match tag {
        "" => image.to_string(),
        t if t.starts_with("sha256:") => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    let r = Reference::parse_without_default_tag(&name)?;
    let all_tags = r.tag().is_none() && r.digest().is_none();
    Ok((r, all_tags))
}

/// The credentials a client sent for the registry (`X-Registry-Auth`; anonymous without).
pub(super) fn registry_credentials(req: &Req) -> Credentials {
    req.headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(Credentials::from_header)
        .unwrap_or_default()
}

/// A registry error as the Engine API answers it before any progress was sent.
pub(super) fn to_api(e: &berth_registry::Error) -> ApiError {
    let kind = if e.is_not_found() {
        ErrorKind::NotFound
    } else if matches!(e, berth_registry::Error::Invalid(_)) {
        ErrorKind::InvalidParameter
    } else {
        ErrorKind::System
    };
    ApiError::new(kind, e.to_string())
}

fn layer_line(id: String, status: &LayerStatus) -> JsonMessage {
    let detail = match *status {
        LayerStatus::Downloading { current, total }
        | LayerStatus::Extracting { current, total } => ProgressDetail {
            current: Some(current as i64),
            total: Some(total as i64),
        },
        _ => ProgressDetail::default(),
    };
    JsonMessage {
        status: Some(status.text().to_string()),
        progress_detail: Some(detail),
        id: Some(id),
        ..Default::default()
    }
}

fn event_line(ev: PullEvent) -> JsonMessage {
    match ev {
        PullEvent::Pulling { id, name } => JsonMessage {
            status: Some(format!("Pulling from {name}")),
            id: Some(id),
            ..Default::default()
        },
        PullEvent::Layer { id, status } => layer_line(id, &status),
    }
}

/// What the pulls of one request report, in order.
enum Step {
    Event(PullEvent),
    Done(
        Reference,
        std::result::Result<berth_registry::Pulled, ApiError>,
    ),
}

/// Pulls and streams progress; errors before the manifest is found are HTTP errors (404
/// for a missing repository or tag, as the docker CLI's run-then-pull flow expects). A
/// repository without a tag pulls every tag, one after the other, as moby does.
pub async fn pull(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let (reference, all_tags) =
        requested_reference(req.q("fromImage").unwrap_or(""), req.q("tag").unwrap_or(""))?;
    let platform = match req.q("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(berth_registry::manifest::Platform::parse(p).map_err(ApiError::invalid)?),
        None => None,
    };
    let credentials = registry_credentials(req);
    let config = daemon.config.registry.clone();
    let references = if all_tags {
        let tags = berth_registry::list_tags(&config, &reference, credentials.clone())
            .await
            .map_err(|e| to_api(&e))?;
        if tags.is_empty() {
            return Err(ApiError::not_found(format!(
                "repository {} has no tags",
                reference.familiar_name()
            ))
            .into());
        }
        tags.iter()
            .map(|t| reference.with_tag(t))
            .collect::<std::result::Result<Vec<_>, _>>()?
    } else {
        vec![reference.clone()]
    };
    let (steps_tx, mut steps) = mpsc::channel::<Step>(64);
    let store = daemon.images.store.clone();
    let max = daemon.config.max_concurrent_downloads;
    tokio::spawn(async move {
        for r in references {
            let request = PullRequest {
                reference: r.clone(),
                platform: platform.clone(),
                credentials: credentials.clone(),
                max_concurrent_downloads: max,
            };
            let (tx, mut events) = mpsc::channel(64);
            let (store, config) = (store.clone(), config.clone());
            let task =
                tokio::spawn(
                    async move { berth_registry::pull(&store, &config, request, tx).await },
                );
            while let Some(ev) = events.recv().await {
                let _ = steps_tx.send(Step::Event(ev)).await;
            }
            let done = match task.await {
                Ok(r) => r.map_err(|e| to_api(&e)),
                Err(e) => Err(ApiError::new(ErrorKind::System, format!("pull task: {e}"))),
            };
            let failed = done.is_err();
            let _ = steps_tx.send(Step::Done(r, done)).await;
            if failed {
                break;
            }
        }
    });
    let first = steps.recv().await;
    // Nothing reported before the end: the pull failed before the manifest was found.
    if let Some(Step::Done(_, Err(e))) = first {
        return Err(e.into());
    }
    let (out, body) = mpsc::channel::<Bytes>(64);
    let d = daemon.clone();
    tokio::spawn(async move {
        let send = |m: JsonMessage| {
            let out = out.clone();
            async move { out.send(Bytes::from(m.to_line())).await.is_ok() }
        };
        let mut newer = false;
        let mut next = first;
        while let Some(step) = next {
            match step {
                // A client that went away does not stop the pull (moby finishes it too).
                Step::Event(ev) => {
                    send(event_line(ev)).await;
                }
                Step::Done(_, Err(e)) => {
                    send(JsonMessage::error(e.message)).await;
                    return;
                }
                Step::Done(r, Ok(pulled)) => {
                    let id = pulled.image_id.to_string();
                    let before = d.images.resolve(&r.to_string()).ok();
                    newer |= before.as_deref() != Some(id.as_str());
                    let mut names = vec![r.with_digest(pulled.manifest_digest.clone()).to_string()];
                    if r.digest().is_none() {
                        names.push(r.to_string());
                    }
                    if let Err(e) = d.images.register(&*d.store, &pulled.image_id, &names) {
                        send(JsonMessage::error(e.to_string())).await;
                        return;
                    }
                    d.events.publish(
                        "image",
                        "pull",
                        &r.familiar(),
                        [("name".to_string(), r.familiar_name())].into(),
                    );
                    send(JsonMessage::status(format!(
                        "Digest: {}",
                        pulled.manifest_digest
                    )))
                    .await;
                }
            }
            next = steps.recv().await;
        }
        let word = if newer {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        let shown = if all_tags {
            reference.familiar_name()
        } else {
            reference.familiar()
        };
        send(JsonMessage::status(format!("Status: {word} {shown}"))).await;
    });
    Ok(http::streaming("application/json", body))
}

/// `GET /distribution/{name}/json`: the registry's descriptor of a reference and the
/// platforms it serves, without pulling (docker-py's `get_registry_data`, buildx).
pub async fn distribution(daemon: &Arc<Daemon>, req: &Req, name: &str) -> HandlerResult {
    let reference = Reference::parse(name)?;
    let credentials = registry_credentials(req);
    let info =
        berth_registry::inspect_distribution(&daemon.config.registry, &reference, credentials)
            .await
            .map_err(|e| to_api(&e))?;
    let platforms: Vec<serde_json::Value> = info
        .platforms
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({"architecture": p.architecture, "os": p.os});
            if !p.variant.is_empty() {
                v["variant"] = p.variant.clone().into();
            }
            v
        })
        .collect();
    Ok(http::json(
        hyper::StatusCode::OK,
        &serde_json::json!({
            "Descriptor": {
                "mediaType": info.media_type,
                "digest": info.digest.to_string(),
                "size": info.size,
            },
            "Platforms": platforms,
        }),
    ))
}

/// `POST /auth`: checks credentials against a registry, as `docker login` asks dockerd
/// to. The daemon keeps nothing: the client stores what it logged in with.
pub async fn login(daemon: &Arc<Daemon>, creds: Credentials) -> HandlerResult {
    let server = creds.server_address.clone();
    match berth_registry::Registry::login(&daemon.config.registry, &server, creds).await {
        Ok(token) => Ok(http::json(
            hyper::StatusCode::OK,
            &serde_json::json!({
                "Status": "Login Succeeded",
                "IdentityToken": token.unwrap_or_default(),
            }),
        )),
        Err(berth_registry::Error::Unauthorized(text)) => {
            Err(ApiError::new(ErrorKind::Unauthorized, text).into())
        }
        Err(e) => Err(to_api(&e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_from_the_query() {
        let (r, all) = requested_reference("busybox", "latest").unwrap();
        assert_eq!(
            (r.to_string().as_str(), all),
            ("docker.io/library/busybox:latest", false)
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let (r, _) = requested_reference("127.0.0.1:5000/x", &d).unwrap();
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert!(requested_reference("busybox", "").unwrap().1);
        assert!(!requested_reference("busybox:1.36", "").unwrap().1);
        assert!(requested_reference("Bad Name", "x").is_err());
    }
}
