//! `docker push`: an image's layers, config and manifest to a registry.

use crate::auth::Credentials;
use crate::client::{Registry, RegistryConfig};
use crate::error::{Error, Result};
use berth_image::compression::Compression;
use berth_image::digest::{Hasher, HashingWriter};
use berth_image::{Digest, ImageStore, Reference};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex, Semaphore};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// Where to: the repository and the tag.
    pub reference: Reference,
    /// The local image.
    pub image_id: Digest,
    pub credentials: Credentials,
    /// Other repositories of the same registry that hold this image's layers (from its
    /// other names there): blobs are mounted from them instead of uploaded.
    pub mount_from: Vec<String>,
    /// daemon.json `max-concurrent-uploads` (dockerd's default is 5).
    pub max_concurrent_uploads: usize,
}

/// What a push produced.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: usize,
}

/// A layer's progress, as moby reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    Preparing,
    Waiting,
    Pushing { current: u64, total: u64 },
    Pushed,
    AlreadyExists,
    MountedFrom(String),
}

impl PushStatus {
    /// moby's status text.
    pub fn text(&self) -> String {
        match self {
            PushStatus::Preparing => "Preparing".into(),
            PushStatus::Waiting => "Waiting".into(),
            PushStatus::Pushing { .. } => "Pushing".into(),
            PushStatus::Pushed => "Pushed".into(),
            PushStatus::AlreadyExists => "Layer already exists".into(),
            PushStatus::MountedFrom(r) => format!("Mounted from {r}"),
        }
    }
}

/// One layer's progress; `id` is the first 12 hex digits of its diff ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    pub id: String,
    pub status: PushStatus,
}

/// A layer as it goes to the registry: its blob (as kept, or gzipped for the push).
struct Prepared {
    digest: Digest,
    size: u64,
    media_type: &'static str,
    path: PathBuf,
    /// The gzipped copy of a layer kept uncompressed, removed when dropped.
    _temporary: Option<tempfile::TempPath>,
}

/// Finds or makes the blob a layer is pushed as: a pulled layer goes as it came (gzip or
/// zstd, no recompression); one kept as a plain tar or rebuilt from its files (imported,
/// loaded, committed) is gzipped, deterministically, so every push of it has the same
/// digest.
fn prepare(store: &ImageStore, chain: &Digest, oci: bool) -> Result<Prepared> {
    let info = store.layer(chain)?;
    let gzip_media = if oci {
        OCI_LAYER_GZIP
    } else {
        DOCKER_LAYER_GZIP
    };
    let Some(blob) = info.blob.clone() else {
        let (tar, _) = store.open_layer_tar(chain)?;
        return gzip_layer(store, chain, tar, gzip_media);
    };
    let mut head = [0u8; 4];
    let n = store
        .open_blob(&blob)?
        .read(&mut head)
        .map_err(|e| Error::Transport(format!("read layer {blob}: {e}")))?;
    let kind = match &head[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    };
    let size = store.blob_size(&blob)?;
    match kind {
        Compression::Gzip => Ok(Prepared {
            digest: blob.clone(),
            size,
            media_type: gzip_media,
            path: store.blob_path(&blob),
            _temporary: None,
        }),
        Compression::Zstd => Ok(Prepared {
            digest: blob.clone(),
            size,
            media_type: OCI_LAYER_ZSTD,
            path: store.blob_path(&blob),
            _temporary: None,
        }),
        _ => {
            let src = std::io::BufReader::new(store.open_blob(&blob)?);
            gzip_layer(store, chain, src, gzip_media)
        }
    }
}

/// Gzips a layer's tar into a temporary file of the store (mtime 0 and no name: the same
/// tar always compresses to the same bytes).
fn gzip_layer(
    store: &ImageStore,
    chain: &Digest,
    mut src: impl Read,
    media_type: &'static str,
) -> Result<Prepared> {
    let tmp_dir = store.root().join("tmp");
    let (out, tmp) = tempfile::Builder::new()
        .prefix("push-")
        .tempfile_in(&tmp_dir)
        .map_err(|e| Error::Transport(format!("create a file in {}: {e}", tmp_dir.display())))?
        .into_parts();
    let hashing = HashingWriter {
        inner: std::io::BufWriter::new(out),
        hasher: Hasher::default(),
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(hashing, flate2::Compression::fast());
    std::io::copy(&mut src, &mut gz)
        .map_err(|e| Error::Transport(format!("compress layer {chain}: {e}")))?;
    let mut hashing = gz
        .finish()
        .map_err(|e| Error::Transport(format!("compress layer {chain}: {e}")))?;
    hashing
        .inner
        .flush()
        .map_err(|e| Error::Transport(format!("write {}: {e}", tmp.display())))?;
    let size = hashing.hasher.len();
    Ok(Prepared {
        digest: hashing.hasher.finish(),
        size,
        media_type,
        path: tmp.to_path_buf(),
        _temporary: Some(tmp),
    })
}

async fn send(events: &mpsc::Sender<PushEvent>, id: &str, status: PushStatus) {
    let _ = events
        .send(PushEvent {
            id: id.to_string(),
            status,
        })
        .await;
}

/// Pushes an image: every layer not in the repository yet (mounted from another
/// repository of the registry when it has it, else uploaded), the config, then the
/// manifest under the tag.
pub async fn push(
    store: &ImageStore,
    config: &RegistryConfig,
    req: PushRequest,
    events: mpsc::Sender<PushEvent>,
) -> Result<Pushed> {
    let r = &req.reference;
    let tag = r.tag().unwrap_or("latest").to_string();
    let cfg_bytes = store.image_config_bytes(&req.image_id)?;
    let cfg = store.image_config(&req.image_id)?;
    let chains = cfg.chain_ids();
    let ids: Vec<String> = cfg
        .rootfs
        .diff_ids
        .iter()
        .map(|d| d.hex().chars().take(12).collect())
        .collect();
    let mut reg = Registry::connect(
        config,
        r.domain(),
        r.path(),
        &r.familiar_name(),
        req.credentials.clone(),
    )
    .await?;
    reg.want_push(&req.mount_from);
    // moby lists the layers top first.
    for id in ids.iter().rev() {
        send(&events, id, PushStatus::Preparing).await;
    }
    // Zstd layers only exist in OCI manifests; then the whole manifest is OCI.
    let oci = chains.iter().any(|c| {
        store
            .layer(c)
            .ok()
            .and_then(|l| l.blob)
            .and_then(|b| store.open_blob(&b).ok())
            .and_then(|mut f| {
                let mut h = [0u8; 4];
                f.read_exact(&mut h)
                    .ok()
                    .map(|_| h == [0x28, 0xb5, 0x2f, 0xfd])
            })
            .unwrap_or(false)
    });
    let reg = Arc::new(Mutex::new(reg));
    let slots = Arc::new(Semaphore::new(req.max_concurrent_uploads.max(1)));
    let mut tasks = Vec::new();
    for (chain, id) in chains.iter().zip(&ids).rev() {
        let (reg, slots, events) = (reg.clone(), slots.clone(), events.clone());
        let (store, chain, id) = (store.clone(), chain.clone(), id.clone());
        let mount_from = req.mount_from.clone();
        tasks.push(tokio::spawn(async move {
            let _slot =
                crate::take_slot(&slots, || send(&events, &id, PushStatus::Waiting)).await?;
            let s = store.clone();
            let c = chain.clone();
            let layer = tokio::task::spawn_blocking(move || prepare(&s, &c, oci))
                .await
                .map_err(|e| Error::Transport(format!("prepare task: {e}")))??;
            push_layer(&reg, &layer, &id, &mount_from, &events)
                .await
                .map(|()| (layer.digest, layer.size, layer.media_type))
        }));
    }
    let mut layers = Vec::new();
    let mut failure = None;
    for t in tasks {
        match t
            .await
            .map_err(|e| Error::Transport(format!("push task: {e}")))
        {
            Ok(Ok(l)) => layers.push(l),
            Ok(Err(e)) | Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    layers.reverse();
    let mut reg = Arc::try_unwrap(reg)
        .map_err(|_| Error::Transport("push tasks still hold the session".into()))?
        .into_inner();
    let config_digest = Digest::of_bytes(&cfg_bytes);
    let config_size = cfg_bytes.len();
    reg.put_small_blob(&config_digest, cfg_bytes).await?;
    let (manifest_type, config_type) = if oci {
        (crate::manifest::OCI_MANIFEST, OCI_CONFIG)
    } else {
        (crate::manifest::DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": config_size, "digest": config_digest.to_string()},
        "layers": layers.iter().map(|(d, size, mt)| serde_json::json!({
            "mediaType": mt, "size": size, "digest": d.to_string(),
        })).collect::<Vec<_>>(),
    });
    let bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::BadContent(e.to_string()))?;
    let size = bytes.len();
    let digest = reg.put_manifest(&tag, manifest_type, bytes).await?;
    Ok(Pushed { digest, size })
}

async fn push_layer(
    reg: &Arc<Mutex<Registry>>,
    layer: &Prepared,
    id: &str,
    mount_from: &[String],
    events: &mpsc::Sender<PushEvent>,
) -> Result<()> {
    let mut session = reg.lock().await;
    if session.has_blob(&layer.digest).await? {
        drop(session);
        send(events, id, PushStatus::AlreadyExists).await;
        return Ok(());
    }
    // One mount attempt: a refused mount opens the upload session used below.
    let mut location = None;
    if let Some(from) = mount_from.first() {
        match session.mount_blob(&layer.digest, from).await? {
            None => {
                drop(session);
                send(events, id, PushStatus::MountedFrom(from.clone())).await;
                return Ok(());
            }
            Some(open) => location = Some(open),
        }
    }
    let location = match location {
        Some(l) => l,
        None => session.start_upload().await?,
    };
    let upload = session.upload(location).await?;
    drop(session);
    let total = layer.size;
    let done = Arc::new(AtomicU64::new(0));
    let (ev, pid, counter) = (events.clone(), id.to_string(), done.clone());
    let last = Arc::new(AtomicU64::new(0));
    upload
        .put_file(&layer.digest, &layer.path, move |n| {
            let now = counter.fetch_add(n, Ordering::Relaxed) + n;
            let step = (total / 100).max(512 << 10);
            if now - last.load(Ordering::Relaxed) >= step || now == total {
                last.store(now, Ordering::Relaxed);
                let _ = ev.try_send(PushEvent {
                    id: pid.clone(),
                    status: PushStatus::Pushing {
                        current: now,
                        total,
                    },
                });
            }
        })
        .await?;
    send(events, id, PushStatus::Pushed).await;
    Ok(())
}
