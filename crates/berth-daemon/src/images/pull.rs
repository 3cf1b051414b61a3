//! `POST /images/create?fromImage=`: a pull, streamed as moby streams it.

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::server::http::{self, HandlerResult, Req};
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_api::{ApiError, ErrorKind};
use berth_image::Reference;
use berth_registry::{Credentials, LayerStatus, PullEvent, PullRequest};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The reference a pull request names: `fromImage` plus `tag`, where the tag may be a
/// digest (the docker CLI sends `tag=sha256:…` for `name@sha256:…`).
fn requested_reference(image: &str, tag: &str) -> Result<Reference> {
    let name = match tag {
        "" => image.to_string(),
        t if t.starts_with("sha256:") => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    if tag.is_empty() {
        let r = Reference::parse_without_default_tag(&name)?;
        if r.tag().is_none() && r.digest().is_none() {
            return Err(ApiError::new(
                ErrorKind::NotImplemented,
                format!(
                    "pulling every tag of {} (docker pull --all-tags) is not supported yet; name a tag",
                    r.familiar_name()
                ),
            )
            .into());
        }
        return Ok(r);
    }
    Ok(Reference::parse(&name)?)
}

/// A registry error as the Engine API answers it before any progress was sent.
fn to_api(e: &berth_registry::Error) -> ApiError {
    let kind = if e.is_not_found() {
        ErrorKind::NotFound
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

/// Pulls and streams progress; errors before the manifest is found are HTTP errors (404
/// for a missing repository or tag, as the docker CLI's run-then-pull flow expects).
pub async fn pull(daemon: &Arc<Daemon>, req: &mut Req) -> HandlerResult {
    let reference =
        requested_reference(req.q("fromImage").unwrap_or(""), req.q("tag").unwrap_or(""))?;
    let platform = match req.q("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(berth_registry::manifest::Platform::parse(p).map_err(ApiError::invalid)?),
        None => None,
    };
    let credentials = req
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(Credentials::from_header)
        .unwrap_or_default();
    let before = daemon.images.resolve(&reference.to_string()).ok();
    let request = PullRequest {
        reference: reference.clone(),
        platform,
        credentials,
        max_concurrent_downloads: daemon.config.max_concurrent_downloads,
    };
    let (tx, mut events) = mpsc::channel(64);
    let store = daemon.images.store.clone();
    let config = daemon.config.registry.clone();
    let task =
        tokio::spawn(async move { berth_registry::pull(&store, &config, request, tx).await });
    let Some(first) = events.recv().await else {
        // Nothing reported: the pull failed before the manifest was found.
        let result = task
            .await
            .map_err(|e| DaemonError::Other(format!("pull task: {e}")))?;
        return Err(match result {
            Err(e) => to_api(&e).into(),
            Ok(_) => DaemonError::Other("pull ended without a manifest".into()),
        });
    };
    let (out, body) = mpsc::channel::<Bytes>(64);
    let d = daemon.clone();
    tokio::spawn(async move {
        let send = |m: JsonMessage| {
            let out = out.clone();
            async move { out.send(Bytes::from(m.to_line())).await.is_ok() }
        };
        send(event_line(first)).await;
        while let Some(ev) = events.recv().await {
            // A client that went away does not stop the pull (moby finishes it too).
            send(event_line(ev)).await;
        }
        let done = match task.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("pull task: {e}")),
        };
        let pulled = match done {
            Ok(p) => p,
            Err(e) => {
                send(JsonMessage::error(e)).await;
                return;
            }
        };
        let mut names = vec![reference
            .with_digest(pulled.manifest_digest.clone())
            .to_string()];
        if reference.digest().is_none() {
            names.push(reference.to_string());
        }
        if let Err(e) = d.images.register(&*d.store, &pulled.image_id, &names) {
            send(JsonMessage::error(e.to_string())).await;
            return;
        }
        d.events.publish(
            "image",
            "pull",
            &reference.familiar(),
            [("name".to_string(), reference.familiar_name())].into(),
        );
        send(JsonMessage::status(format!(
            "Digest: {}",
            pulled.manifest_digest
        )))
        .await;
        let id = pulled.image_id.to_string();
        let word = if before.as_deref() == Some(id.as_str()) {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        send(JsonMessage::status(format!(
            "Status: {word} {}",
            reference.familiar()
        )))
        .await;
    });
    Ok(http::streaming("application/json", body))
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
        let r = requested_reference("busybox", "latest").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = requested_reference("127.0.0.1:5000/x", &d).unwrap();
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert!(requested_reference("busybox", "").is_err());
        assert!(requested_reference("busybox:1.36", "").is_ok());
        assert!(requested_reference("Bad Name", "x").is_err());
    }
}
