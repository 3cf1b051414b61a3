//! `docker pull`: a manifest, its config and its layers into the image store.

use crate::auth::Credentials;
use crate::client::{Registry, RegistryConfig};
use crate::error::{Error, Result};
use crate::manifest::{self, Descriptor, Fetched, Platform};
use berth_image::{Digest, ImageStore, Reference};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex, Semaphore};

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The image, normalised, with a tag or a digest.
    pub reference: Reference,
    /// `--platform`; the host's when `None`.
    pub platform: Option<Platform>,
    pub credentials: Credentials,
    /// daemon.json `max-concurrent-downloads` (dockerd's default is 3).
    pub max_concurrent_downloads: usize,
}

/// What a pull produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image ID (its config's digest).
    pub image_id: Digest,
    /// The digest of the manifest (or manifest list) the reference resolved to: the
    /// repository digest (`RepoDigests`).
    pub manifest_digest: Digest,
}

/// A layer's progress, as moby reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    AlreadyExists,
    PullingFsLayer,
    Waiting,
    Downloading { current: u64, total: u64 },
    VerifyingChecksum,
    DownloadComplete,
    Extracting { current: u64, total: u64 },
    PullComplete,
}

impl LayerStatus {
    /// moby's status text.
    pub fn text(&self) -> &'static str {
        match self {
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::PullingFsLayer => "Pulling fs layer",
            LayerStatus::Waiting => "Waiting",
            LayerStatus::Downloading { .. } => "Downloading",
            LayerStatus::VerifyingChecksum => "Verifying Checksum",
            LayerStatus::DownloadComplete => "Download complete",
            LayerStatus::Extracting { .. } => "Extracting",
            LayerStatus::PullComplete => "Pull complete",
        }
    }
}

/// What a pull reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The manifest was found: `<id>: Pulling from <name>`; `id` is the tag (or the whole
    /// reference when pulling by digest), `name` the repository's path on the registry.
    Pulling { id: String, name: String },
    /// A layer's progress; `id` is the first 12 hex digits of its blob's digest.
    Layer { id: String, status: LayerStatus },
}

/// The tags of `repository` (a reference without tag), for `docker pull --all-tags`.
pub async fn list_tags(
    config: &RegistryConfig,
    repository: &Reference,
    credentials: Credentials,
) -> Result<Vec<String>> {
    let mut reg = Registry::connect(
        config,
        repository.domain(),
        repository.path(),
        &repository.familiar_name(),
        credentials,
    )
    .await?;
    reg.tags().await
}

/// What a registry says of a reference without pulling it (`GET /distribution/{name}/json`):
/// the manifest's (or list's) descriptor and the platforms it serves.
#[derive(Debug, Clone)]
pub struct DistributionInfo {
    pub media_type: String,
    pub digest: Digest,
    pub size: usize,
    pub platforms: Vec<Platform>,
}

/// Resolves `reference` on its registry: the manifest's descriptor, and the platforms of a
/// list's entries, or of the image's config for a single manifest.
pub async fn inspect_distribution(
    config: &RegistryConfig,
    reference: &Reference,
    credentials: Credentials,
) -> Result<DistributionInfo> {
    let r = reference;
    let mut reg = Registry::connect(
        config,
        r.domain(),
        r.path(),
        &r.familiar_name(),
        credentials,
    )
    .await?;
    let wanted = match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.unwrap_or("latest").to_string(),
    };
    let (body, content_type, digest) = reg.manifest(&wanted, &r.familiar()).await?;
    let fetched = manifest::parse(&content_type, &body).map_err(Error::BadContent)?;
    #[derive(serde::Deserialize)]
    struct MediaType {
        #[serde(rename = "mediaType", default)]
        media_type: String,
    }
    let declared = serde_json::from_slice::<MediaType>(&body)
        .map(|m| m.media_type)
        .unwrap_or_default();
    let media_type = if declared.is_empty() {
        content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    } else {
        declared
    };
    let platforms = match fetched {
        Fetched::Schema1 => {
            return Err(Error::Schema1 {
                reference: r.to_string(),
            })
        }
        Fetched::Index(index) => index
            .manifests
            .iter()
            .filter_map(|d| d.platform.clone())
            .collect(),
        Fetched::Image(m) => {
            let cfg = reg
                .small_blob(&m.config.digest, manifest::MAX_CONFIG_BYTES)
                .await?;
            let c = berth_image::ImageConfig::from_slice(&cfg, "image config")?;
            vec![Platform {
                architecture: c.architecture.clone(),
                os: c.os.clone(),
                variant: c.variant.clone().unwrap_or_default(),
            }]
        }
    };
    Ok(DistributionInfo {
        media_type,
        digest,
        size: body.len(),
        platforms,
    })
}

/// The 12-hex id moby shows for a layer.
fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

/// Pulls `req.reference` into `store`, reporting progress on `events` (a closed receiver
/// only stops the reports). Nothing of the image is visible until every layer is
/// verified and unpacked: the config is stored last.
/// The manifest `wanted` of `r` and the registry session that served it: a Docker Hub
/// image from the first `registry-mirrors` entry that has it, else from its registry (as
/// dockerd, a mirror that fails in any way is skipped).
async fn first_manifest(
    config: &RegistryConfig,
    r: &berth_image::Reference,
    creds: &crate::Credentials,
    wanted: &str,
    shown: &str,
) -> Result<(Registry, (Vec<u8>, String, berth_image::Digest))> {
    let name = r.familiar_name();
    if r.domain() == berth_image::reference::DEFAULT_DOMAIN {
        for mirror in &config.mirrors {
            let attempt = async {
                let mut reg =
                    Registry::connect_mirror(config, mirror, r.path(), &name, creds.clone())
                        .await?;
                let m = reg.manifest(wanted, shown).await?;
                Ok::<_, Error>((reg, m))
            };
            match attempt.await {
                Ok(found) => return Ok(found),
                Err(e) => tracing::info!("mirror {mirror} for {shown}: {e}; trying the next"),
            }
        }
    }
    let mut reg = Registry::connect(config, r.domain(), r.path(), &name, creds.clone()).await?;
    let m = reg.manifest(wanted, shown).await?;
    Ok((reg, m))
}

pub async fn pull(
    store: &ImageStore,
    config: &RegistryConfig,
    req: PullRequest,
    events: mpsc::Sender<PullEvent>,
) -> Result<Pulled> {
    let r = &req.reference;
    let name = r.familiar_name();
    let (wanted, shown, event_id) = match (r.digest(), r.tag()) {
        (Some(d), _) => (d.to_string(), r.familiar(), r.to_string()),
        (None, Some(t)) => (t.to_string(), r.familiar(), t.to_string()),
        (None, None) => ("latest".into(), format!("{name}:latest"), "latest".into()),
    };
    let (mut reg, (body, content_type, top_digest)) =
        first_manifest(config, r, &req.credentials, &wanted, &shown).await?;
    // moby names the repository by its path on the registry: `library/busybox`.
    let _ = events
        .send(PullEvent::Pulling {
            id: event_id,
            name: r.path().to_string(),
        })
        .await;
    let platform = req.platform.clone().unwrap_or_else(Platform::host);
    let image_manifest = match manifest::parse(&content_type, &body).map_err(Error::BadContent)? {
        Fetched::Schema1 => {
            return Err(Error::Schema1 {
                reference: r.to_string(),
            })
        }
        Fetched::Image(m) => m,
        Fetched::Index(index) => {
            let chosen =
                manifest::choose(&index, &platform).ok_or_else(|| Error::NoMatchingPlatform {
                    platform: platform.format(),
                })?;
            let digest = chosen.digest.to_string();
            let (body, ct, _) = reg.manifest(&digest, &shown).await?;
            match manifest::parse(&ct, &body).map_err(Error::BadContent)? {
                Fetched::Image(m) => m,
                Fetched::Schema1 => {
                    return Err(Error::Schema1 {
                        reference: r.to_string(),
                    })
                }
                Fetched::Index(_) => {
                    return Err(Error::BadContent(format!(
                        "manifest {digest} of the list is itself a list"
                    )))
                }
            }
        }
    };
    for l in &image_manifest.layers {
        if !l.urls.is_empty() && l.media_type.contains("foreign") {
            return Err(Error::BadContent(format!(
                "layer {} is a foreign layer (only on {}): not pulled",
                l.digest,
                l.urls.join(", ")
            )));
        }
    }

    let config_digest = image_manifest.config.digest.clone();
    if store.has_blob(&config_digest)
        && store
            .image_config(&config_digest)
            .is_ok_and(|c| c.chain_ids().iter().all(|c| store.has_layer(c)))
    {
        return Ok(Pulled {
            image_id: config_digest,
            manifest_digest: top_digest,
        });
    }
    let cfg_bytes = reg
        .small_blob(&config_digest, manifest::MAX_CONFIG_BYTES)
        .await?;
    let cfg =
        berth_image::ImageConfig::from_slice(&cfg_bytes, &format!("image config {config_digest}"))?;
    let diff_ids = cfg.rootfs.diff_ids.clone();
    if diff_ids.len() != image_manifest.layers.len() {
        return Err(Error::BadContent(format!(
            "image config {config_digest} lists {} layers, its manifest {}",
            diff_ids.len(),
            image_manifest.layers.len()
        )));
    }

    let chains = Digest::chain_ids(&diff_ids);
    let reg = Arc::new(Mutex::new(reg));
    let slots = Arc::new(Semaphore::new(req.max_concurrent_downloads.max(1)));
    let mut downloads: HashMap<Digest, tokio::task::JoinHandle<Result<()>>> = HashMap::new();
    for (i, (layer, chain)) in image_manifest.layers.iter().zip(&chains).enumerate() {
        let id = short(&layer.digest);
        if store.has_layer(chain) {
            send(&events, &id, LayerStatus::AlreadyExists).await;
            continue;
        }
        send(&events, &id, LayerStatus::PullingFsLayer).await;
        if downloads.contains_key(&layer.digest) {
            continue;
        }
        let target = Target {
            parent: i.checked_sub(1).map(|p| chains[p].clone()),
            diff_id: diff_ids[i].clone(),
        };
        let task = download(
            reg.clone(),
            store.clone(),
            layer.clone(),
            target,
            events.clone(),
            slots.clone(),
        );
        downloads.insert(layer.digest.clone(), tokio::spawn(task));
    }
    // Unpack in order, each layer as soon as its blob and its parent are there.
    let mut result = Ok(());
    for (i, (layer, chain)) in image_manifest.layers.iter().zip(&chains).enumerate() {
        if store.has_layer(chain) {
            continue;
        }
        if let Some(h) = downloads.remove(&layer.digest) {
            result = h
                .await
                .map_err(|e| Error::Transport(format!("download task: {e}")))
                .and_then(|r| r);
            if result.is_err() {
                break;
            }
        }
        let id = short(&layer.digest);
        let total = layer.size.max(0) as u64;
        send(&events, &id, LayerStatus::Extracting { current: 0, total }).await;
        // A layer already there was unpacked while it downloaded.
        if !store.has_layer(chain) {
            let parent = i.checked_sub(1).map(|p| chains[p].clone());
            let (s, blob, diff) = (store.clone(), layer.digest.clone(), diff_ids[i].clone());
            let applied = tokio::task::spawn_blocking(move || {
                s.apply_layer_blob(parent.as_ref(), &blob, Some(&diff))
            })
            .await
            .map_err(|e| Error::Transport(format!("unpack task: {e}")));
            if let Err(e) = applied.and_then(|r| r.map_err(Error::from)) {
                result = Err(e);
                break;
            }
        }
        send(
            &events,
            &id,
            LayerStatus::Extracting {
                current: total,
                total,
            },
        )
        .await;
        send(&events, &id, LayerStatus::PullComplete).await;
    }
    for (_, h) in downloads {
        h.abort();
    }
    result?;
    let s = store.clone();
    let image_id = tokio::task::spawn_blocking(move || s.put_image_config(&cfg_bytes))
        .await
        .map_err(|e| Error::Transport(format!("store task: {e}")))??;
    Ok(Pulled {
        image_id,
        manifest_digest: top_digest,
    })
}

async fn send(events: &mpsc::Sender<PullEvent>, id: &str, status: LayerStatus) {
    let _ = events
        .send(PullEvent::Layer {
            id: id.to_string(),
            status,
        })
        .await;
}

/// Where a downloaded layer goes in the image: on top of `parent`, with this diff ID.
struct Target {
    parent: Option<Digest>,
    diff_id: Digest,
}

/// Downloads one layer blob into the store, verifying its digest and size as it streams.
/// When the layer's parent is there already (always for the first layer), the layer is
/// unpacked from the same stream as it arrives; otherwise only the blob is kept, to be
/// unpacked once its parent is.
async fn download(
    reg: Arc<Mutex<Registry>>,
    store: ImageStore,
    layer: Descriptor,
    target: Target,
    events: mpsc::Sender<PullEvent>,
    slots: Arc<Semaphore>,
) -> Result<()> {
    let id = short(&layer.digest);
    let _slot = crate::take_slot(&slots, || send(&events, &id, LayerStatus::Waiting)).await?;
    if store.has_blob(&layer.digest) {
        send(&events, &id, LayerStatus::DownloadComplete).await;
        return Ok(());
    }
    let resp = reg.lock().await.blob(&layer.digest).await?;
    let total = layer.size.max(0) as u64;
    let body = resp
        .bytes_stream()
        .map(|r| r.map_err(|e| std::io::Error::other(format!("read from registry: {e}"))));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    let digest = layer.digest.clone();
    let ev = events.clone();
    let progress_id = id.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let counted = Counted {
            inner: reader,
            done: 0,
            total,
            last_sent: 0,
            events: ev,
            id: progress_id,
        };
        let parent_ready = target.parent.as_ref().map_or(true, |p| store.has_layer(p));
        if parent_ready {
            store
                .apply_layer_download(target.parent.as_ref(), counted, &target.diff_id, &digest)
                .map(|_| ())
        } else {
            store.put_blob_expect(counted, &digest)
        }
    })
    .await
    .map_err(|e| Error::Transport(format!("download task: {e}")))?;
    match stored {
        Ok(()) => {}
        Err(berth_image::Error::DigestMismatch { what, .. }) if what != "layer diff id" => {
            return Err(Error::BadContent(format!(
                "filesystem layer verification failed for digest {}",
                layer.digest
            )))
        }
        Err(e) => return Err(e.into()),
    }
    send(&events, &id, LayerStatus::VerifyingChecksum).await;
    send(&events, &id, LayerStatus::DownloadComplete).await;
    Ok(())
}

/// Counts a blob's bytes as they stream, reports progress (every 512 KiB or 1 %), and
/// refuses more bytes than the descriptor announced (an endless body ends here).
struct Counted<R> {
    inner: R,
    done: u64,
    total: u64,
    last_sent: u64,
    events: mpsc::Sender<PullEvent>,
    id: String,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.total > 0 && self.done > self.total {
            return Err(std::io::Error::other(format!(
                "blob is larger than the {} bytes its descriptor gives",
                self.total
            )));
        }
        let step = (self.total / 100).max(512 << 10);
        if n > 0 && (self.done - self.last_sent >= step || self.done == self.total) {
            self.last_sent = self.done;
            let _ = self.events.try_send(PullEvent::Layer {
                id: self.id.clone(),
                status: LayerStatus::Downloading {
                    current: self.done,
                    total: self.total,
                },
            });
        }
        Ok(n)
    }
}
