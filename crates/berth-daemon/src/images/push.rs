//! `POST /images/{name}/push`: a push, streamed as moby streams it.

use crate::daemon::Daemon;
use crate::error::Result;
use crate::server::http::{self, HandlerResult, Req};
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_api::{ApiError, ErrorKind};
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

/// The reference a push names: `{name}` plus `tag` (a name with its own tag keeps it).
fn push_reference(name: &str, tag: &str) -> Result<Reference> {
    let named = Reference::parse_without_default_tag(name)?;
    if !tag.is_empty() {
        return Ok(named.with_tag(tag)?);
    }
    if named.tag().is_some() {
        return Ok(named);
    }
    Err(ApiError::new(
        ErrorKind::NotImplemented,
        format!(
            "pushing every tag of {} (docker push --all-tags) is not supported yet; name a tag",
            named.familiar_name()
        ),
    )
    .into())
}

pub async fn push(daemon: &Arc<Daemon>, req: &mut Req, name: &str) -> HandlerResult {
    let reference = push_reference(name, req.q("tag").unwrap_or(""))?;
    let image_id = daemon
        .images
        .resolve(&reference.to_string())
        .ok()
        .filter(|_| daemon.images.ref_for_name(&reference.to_string()).is_some())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            ))
        })?;
    let image_id = berth_image::Digest::parse(&image_id)?;
    // Blobs can be mounted from this image's other repositories on the same registry.
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
    let credentials = super::pull::registry_credentials(req);
    let request = PushRequest {
        reference: reference.clone(),
        image_id: image_id.clone(),
        credentials,
        mount_from,
        max_concurrent_uploads: daemon.config.max_concurrent_uploads,
    };
    let (tx, mut events) = mpsc::channel(64);
    let (out, body) = mpsc::channel::<Bytes>(64);
    let store = daemon.images.store.clone();
    let config = daemon.config.registry.clone();
    let d = daemon.clone();
    tokio::spawn(async move {
        let send = |m: JsonMessage| {
            let out = out.clone();
            async move { out.send(Bytes::from(m.to_line())).await.is_ok() }
        };
        send(JsonMessage::status(format!(
            "The push refers to repository [{}]",
            reference.familiar_name()
        )))
        .await;
        let task =
            tokio::spawn(async move { berth_registry::push(&store, &config, request, tx).await });
        while let Some(ev) = events.recv().await {
            send(event_line(ev)).await;
        }
        let pushed = match task.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                send(JsonMessage::error(e.to_string())).await;
                return;
            }
            Err(e) => {
                send(JsonMessage::error(format!("push task: {e}"))).await;
                return;
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
        .await;
    });
    Ok(http::streaming("application/json", body))
}
