//! `POST /images/{name}/push`: a push, streamed as moby streams it.

use crate::daemon::Daemon;
use crate::error::Result;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_api::ApiError;
use berth_image::Reference;
use berth_registry::{PushEvent, PushRequest, PushStatus};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

fn event_line(ev: PushEvent) -> JsonMessage {
    let detail = match ev.status {
        PushStatus::Pushing { current, total } => ProgressDetail {
            current: Some(current as i64),
            total: Some(total as i64),
        },
        _ => ProgressDetail::default(),
    };
    JsonMessage {
        status: Some(ev.status.text()),
        progress_detail: Some(detail),
        id: Some(ev.id),
        ..Default::default()
    }
}

/// moby's 404 for a push of a name that is not here.
fn not_here(r: &Reference) -> ApiError {
    ApiError::not_found(format!(
        "An image does not exist locally with the tag: {}",
        r.familiar_name()
    ))
}

/// The references a push names: `{name}` plus `tag` (a name with its own tag keeps it);
/// a repository without a tag means every local tag of it (`docker push --all-tags`).
fn push_references(daemon: &Daemon, name: &str, tag: &str) -> Result<Vec<Reference>> {
    let named = Reference::parse_without_default_tag(name)?;
    if !tag.is_empty() {
        return Ok(vec![named.with_tag(tag)?]);
    }
    if named.tag().is_some() {
        return Ok(vec![named]);
    }
    let all: Vec<Reference> = daemon
        .images
        .tags_in_repository(&named.to_string())
        .into_iter()
        .flat_map(|(_, tags)| tags)
        .filter_map(|t| Reference::parse(&t).ok())
        .collect();
    if all.is_empty() {
        return Err(not_here(&named).into());
    }
    Ok(all)
}

/// What one tag's push needs from the image store: the image and the repositories of the
/// same registry its blobs can be mounted from.
fn push_request(daemon: &Daemon, req: &Req, reference: &Reference) -> Result<PushRequest> {
    let image_id = daemon
        .images
        .resolve(&reference.to_string())
        .ok()
        .filter(|_| daemon.images.ref_for_name(&reference.to_string()).is_some())
        .ok_or_else(|| not_here(reference))?;
    let image_id = berth_image::Digest::parse(&image_id)?;
    let mount_from: Vec<String> = daemon
        .images
        .refs_of(&image_id.to_string())
        .iter()
        .filter_map(|r| Reference::parse(r).ok())
        .filter(|r| r.domain() == reference.domain() && r.path() != reference.path())
        .map(|r| r.path().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(PushRequest {
        reference: reference.clone(),
        image_id,
        credentials: super::pull::registry_credentials(req),
        mount_from,
        max_concurrent_uploads: daemon.config.max_concurrent_uploads,
    })
}

/// Pushes one tag or every tag of a repository, one after the other, streaming moby's
/// progress; the first failure ends the stream.
pub async fn push(daemon: &Arc<Daemon>, req: &mut Req, name: &str) -> HandlerResult {
    let references = push_references(daemon, name, req.q("tag").unwrap_or(""))?;
    let requests = references
        .iter()
        .map(|r| push_request(daemon, req, r))
        .collect::<Result<Vec<_>>>()?;
    let (out, body) = mpsc::channel::<Bytes>(64);
    let d = daemon.clone();
    let repository = references[0].familiar_name();
    tokio::spawn(async move {
        let send = |m: JsonMessage| {
            let out = out.clone();
            async move { out.send(Bytes::from(m.to_line())).await.is_ok() }
        };
        send(JsonMessage::status(format!(
            "The push refers to repository [{repository}]"
        )))
        .await;
        for request in requests {
            if !push_one(&d, request, &send).await {
                return;
            }
        }
    });
    Ok(http::streaming("application/json", body))
}

/// One tag's push; false when it failed (the error is in the stream).
async fn push_one<F, Fut>(d: &Arc<Daemon>, request: PushRequest, send: &F) -> bool
where
    F: Fn(JsonMessage) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let reference = request.reference.clone();
    let image_id = request.image_id.clone();
    let store = d.images.store.clone();
    let config = d.config.registry.clone();
    let (tx, mut events) = mpsc::channel(64);
    let task =
        tokio::spawn(async move { berth_registry::push(&store, &config, request, tx).await });
    while let Some(ev) = events.recv().await {
        send(event_line(ev)).await;
    }
    let pushed = match task.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            send(JsonMessage::error(e.to_string())).await;
            return false;
        }
        Err(e) => {
            send(JsonMessage::error(format!("push task: {e}"))).await;
            return false;
        }
    };
    let digest_ref = reference.with_digest(pushed.digest.clone()).to_string();
    if let Err(e) = d.images.register(&*d.store, &image_id, &[digest_ref]) {
        tracing::warn!("record the pushed digest of {}: {e}", reference.familiar());
    }
    d.events.publish(
        "image",
        "push",
        &reference.familiar(),
        [("name".to_string(), reference.familiar_name())].into(),
    );
    let tag = reference.tag().unwrap_or("latest").to_string();
    send(JsonMessage::status(format!(
        "{tag}: digest: {} size: {}",
        pushed.digest, pushed.size
    )))
    .await;
    send(JsonMessage {
        progress_detail: Some(ProgressDetail::default()),
        aux: Some(serde_json::json!({
            "Tag": tag,
            "Digest": pushed.digest.to_string(),
            "Size": pushed.size,
        })),
        ..Default::default()
    })
    .await
}
