//! `docker load` / `docker save`: the docker-archive format (legacy
//! `<id>/layer.tar` layout and docker 25+'s OCI-layout-inside) and plain OCI
//! image layouts.
//!
//! Load stages every file of the outer tar in the store's `tmp/`, hashing it
//! on the way, and only then reads the manifests; so file order inside the
//! archive does not matter, every digest is checked against content, and a
//! bad archive leaves nothing behind (layers it created are removed again,
//! the image config is stored last).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::compression;
use crate::config::{host_architecture, ImageConfig};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::{ImageStore, StagedBlob};

/// One image that `load` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image id (config digest).
    pub id: Digest,
    /// Tags the archive gave it, familiar form (`busybox:latest`); the
    /// daemon points these at `id`.
    pub repo_tags: Vec<String>,
}

const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// JSON documents in an archive larger than this are refused (they are
/// read into memory).
const MAX_JSON: u64 = 16 << 20;

#[derive(Debug, Deserialize, Serialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: Digest,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The outer archive, staged.
struct Staged {
    files: HashMap<String, StagedBlob>,
    links: HashMap<String, String>,
}

fn clean_path(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

impl Staged {
    fn read<R: Read>(store: &ImageStore, r: R) -> Result<Staged> {
        let (_, plain) =
            compression::decompress(r).map_err(|e| Error::stream("read image archive", e))?;
        let mut archive = tar::Archive::new(plain);
        let mut st = Staged {
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let entries = archive
            .entries()
            .map_err(|e| Error::stream("read image archive", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::stream("read image archive", e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = clean_path(&raw) else {
                return Err(Error::archive(format!("entry {raw:?} escapes the archive")));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let blob = store.stage_blob(entry)?;
                    st.files.insert(path, blob);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let kind = entry.header().entry_type();
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let full = if kind == tar::EntryType::Symlink && !target.starts_with('/') {
                        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        format!("{dir}/{target}")
                    } else {
                        target
                    };
                    if let Some(t) = clean_path(&full) {
                        st.links.insert(path, t);
                    }
                }
                _ => {}
            }
        }
        Ok(st)
    }

    fn get(&self, path: &str) -> Result<&StagedBlob> {
        let mut p = clean_path(path).unwrap_or_default();
        for _ in 0..16 {
            if let Some(b) = self.files.get(&p) {
                return Ok(b);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(Error::archive(format!("{path} not found in archive")))
    }

    /// Gets a file that the archive names by digest and checks the digest.
    fn get_verified(&self, path: &str, what: &str) -> Result<&StagedBlob> {
        let b = self.get(path)?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let hexname = name.strip_suffix(".json").unwrap_or(name);
        let in_blobs = path.contains("blobs/sha256/") || path.ends_with(".json");
        if in_blobs && hexname.len() == 64 && hexname != b.digest().hex() {
            return Err(Error::DigestMismatch {
                what: format!("{what} {path}"),
                expected: format!("sha256:{hexname}"),
                actual: b.digest().to_string(),
            });
        }
        Ok(b)
    }

    fn get_digest(&self, d: &Digest, size: Option<u64>, what: &str) -> Result<&StagedBlob> {
        let path = format!("blobs/sha256/{}", d.hex());
        let b = self.get(&path)?;
        if b.digest() != d {
            return Err(Error::DigestMismatch {
                what: format!("{what} {path}"),
                expected: d.to_string(),
                actual: b.digest().to_string(),
            });
        }
        if let Some(s) = size {
            if s != b.size() {
                return Err(Error::archive(format!(
                    "{what} {d}: size {} does not match descriptor size {s}",
                    b.size()
                )));
            }
        }
        Ok(b)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, blob: &StagedBlob, what: &str) -> Result<T> {
        let bytes = read_small(blob, what)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::json(what, e))
    }
}

fn read_small(blob: &StagedBlob, what: &str) -> Result<Vec<u8>> {
    if blob.size() > MAX_JSON {
        return Err(Error::archive(format!("{what} is too large")));
    }
    let mut v = Vec::new();
    blob.reopen()?
        .read_to_end(&mut v)
        .map_err(|e| Error::stream(format!("read {what}"), e))?;
    Ok(v)
}

/// Loads a docker-archive or OCI-layout tar (optionally gzip/zstd
/// compressed as a whole) into the store. Every blob is verified against
/// its digest and every layer against its diff id before the image
/// config is stored.
pub fn load<R: Read>(store: &ImageStore, reader: R) -> Result<Vec<LoadedImage>> {
    let st = Staged::read(store, reader)?;
    let mut out = Vec::new();
    if st.files.contains_key("manifest.json") {
        let manifest: Vec<ManifestEntry> = st.json(st.get("manifest.json")?, "manifest.json")?;
        for m in &manifest {
            let cfg_blob = st.get_verified(&m.config, "config")?;
            let cfg_bytes = read_small(cfg_blob, &m.config)?;
            let layers = m
                .layers
                .iter()
                .map(|l| st.get_verified(l, "layer"))
                .collect::<Result<Vec<_>>>()?;
            let id = store_image(store, &cfg_bytes, &layers)?;
            out.push(LoadedImage {
                id,
                repo_tags: familiar_tags(m.repo_tags.iter().flatten().map(String::as_str))?,
            });
        }
        return Ok(out);
    }
    if st.files.contains_key("index.json") {
        let index: Index = st.json(st.get("index.json")?, "index.json")?;
        for desc in &index.manifests {
            let Some((cfg_bytes, layers)) = resolve_manifest(&st, desc, 0)? else {
                continue;
            };
            let id = store_image(store, &cfg_bytes, &layers)?;
            let name = desc.annotations.get(ANNOTATION_IMAGE_NAME).or_else(|| {
                desc.annotations
                    .get(ANNOTATION_REF_NAME)
                    .filter(|n| n.contains([':', '/', '@']))
            });
            let tags = familiar_tags(name.map(String::as_str))?;
            // The same image may be listed once per tag: merge.
            match out.iter_mut().find(|l: &&mut LoadedImage| l.id == id) {
                Some(l) => l.repo_tags.extend(tags),
                None => out.push(LoadedImage {
                    id,
                    repo_tags: tags,
                }),
            }
        }
        return Ok(out);
    }
    Err(Error::archive(
        "no manifest.json or index.json found (pre-1.10 archives are not supported)",
    ))
}

fn familiar_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    tags.into_iter()
        .map(|t| Reference::parse(t).map(|r| r.familiar()))
        .collect()
}

/// Follows an index/manifest descriptor to (config bytes, layer blobs).
/// Returns None for manifests of other platforms inside an index.
fn resolve_manifest<'a>(
    st: &'a Staged,
    desc: &Descriptor,
    depth: usize,
) -> Result<Option<(Vec<u8>, Vec<&'a StagedBlob>)>> {
    if depth > 4 {
        return Err(Error::archive("index nesting too deep"));
    }
    let blob = st.get_digest(&desc.digest, desc.size, "manifest")?;
    let bytes = read_small(blob, "manifest")?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("manifest {}", desc.digest), e))?;
    let media = v
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(desc.media_type.as_str())
        .to_string();
    if media == MEDIA_OCI_INDEX
        || media == MEDIA_DOCKER_LIST
        || (v.get("manifests").is_some() && v.get("config").is_none())
    {
        let idx: Index = serde_json::from_value(v)
            .map_err(|e| Error::json(format!("index {}", desc.digest), e))?;
        let _ = idx.media_type;
        let mut candidates: Vec<&Descriptor> = idx
            .manifests
            .iter()
            .filter(|m| match &m.platform {
                Some(p) => p.os == "linux" && p.architecture == host_architecture(),
                None => true,
            })
            .collect();
        if candidates.is_empty() && idx.manifests.len() == 1 {
            candidates.push(&idx.manifests[0]);
        }
        for c in candidates {
            // Only manifests whose blobs are in the archive can be loaded.
            if st.get(&format!("blobs/sha256/{}", c.digest.hex())).is_ok() {
                if let Some(r) = resolve_manifest(st, c, depth + 1)? {
                    return Ok(Some(r));
                }
            }
        }
        return Ok(None);
    }
    let m: OciManifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("manifest {}", desc.digest), e))?;
    let cfg = st.get_digest(&m.config.digest, m.config.size, "config")?;
    let cfg_bytes = read_small(cfg, "config")?;
    let layers = m
        .layers
        .iter()
        .map(|l| st.get_digest(&l.digest, l.size, "layer"))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((cfg_bytes, layers)))
}

/// Unpacks an image's layers (verifying diff ids) and stores its config.
/// On failure, layers this call created are removed again.
fn store_image(store: &ImageStore, cfg_bytes: &[u8], layers: &[&StagedBlob]) -> Result<Digest> {
    let id = Digest::of_bytes(cfg_bytes);
    let cfg = ImageConfig::from_slice(cfg_bytes, &format!("image config {id}"))?;
    let diff_ids = &cfg.rootfs.diff_ids;
    if diff_ids.len() != layers.len() {
        return Err(Error::archive(format!(
            "image {id}: config lists {} layers but the manifest has {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    let mut created: Vec<Digest> = Vec::new();
    let mut created_blobs: Vec<Digest> = Vec::new();
    let res = (|| -> Result<Digest> {
        let mut parent: Option<Digest> = None;
        for (blob, diff_id) in layers.iter().zip(diff_ids) {
            let chain = Digest::chain_id(parent.as_ref(), diff_id);
            if !store.has_layer(&chain) {
                let had_blob = store.has_blob(blob.digest());
                let f = io::BufReader::new(blob.reopen()?);
                store.apply_layer(parent.as_ref(), f, Some(diff_id))?;
                created.push(chain.clone());
                if !had_blob {
                    created_blobs.push(blob.digest().clone());
                }
            }
            parent = Some(chain);
        }
        store.put_image_config(cfg_bytes)
    })();
    if res.is_err() {
        for c in created {
            let _ = store.delete_layer(&c);
        }
        for b in created_blobs {
            let _ = store.delete_blob(&b);
        }
    }
    res
}

/// Writes what `docker save` (docker 25+) writes: an OCI image layout
/// (`oci-layout`, `index.json`, `blobs/sha256/...` with uncompressed layer
/// tars) plus the legacy `manifest.json` and `repositories`, so both real
/// docker (old and new) and berth can load it. `images` pairs each image id
/// with the tags to record for it.
pub fn save<W: Write>(
    store: &ImageStore,
    images: &[(Digest, Vec<String>)],
    writer: W,
) -> Result<()> {
    let mut tb = tar::Builder::new(writer);
    let mut written: HashSet<Digest> = HashSet::new();
    let mut index_entries: Vec<Value> = Vec::new();
    let mut manifest_json: Vec<ManifestEntry> = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let werr = |e: io::Error| Error::stream("write image archive", e);

    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(dir).map_err(werr)?;
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        tb.append(&h, io::empty()).map_err(werr)?;
    }

    for (id, tags) in images {
        let cfg_bytes = store.image_config_bytes(id)?;
        let cfg = ImageConfig::from_slice(&cfg_bytes, &format!("image config {id}"))?;
        let mtime = cfg
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp().max(0) as u64)
            .unwrap_or(0);
        let mut layer_descs = Vec::new();
        let mut layer_paths = Vec::new();
        for chain in cfg.chain_ids() {
            let (r, info) = store.open_layer_tar(&chain)?;
            let path = format!("blobs/sha256/{}", info.diff_id.hex());
            if written.insert(info.diff_id.clone()) {
                let mut hr = HashingReader::new(r.take(info.tar_size));
                append_file(&mut tb, &path, info.tar_size, mtime, &mut hr).map_err(werr)?;
                let (got, len) = hr.drain_and_finish().map_err(werr)?;
                if got != info.diff_id || len != info.tar_size {
                    return Err(Error::DigestMismatch {
                        what: format!("layer {chain} while saving"),
                        expected: info.diff_id.to_string(),
                        actual: got.to_string(),
                    });
                }
            }
            layer_descs.push(json!({"mediaType": MEDIA_OCI_LAYER, "digest": info.diff_id, "size": info.tar_size}));
            layer_paths.push(path);
        }
        let cfg_path = format!("blobs/sha256/{}", id.hex());
        if written.insert(id.clone()) {
            append_file(
                &mut tb,
                &cfg_path,
                cfg_bytes.len() as u64,
                mtime,
                &mut &cfg_bytes[..],
            )
            .map_err(werr)?;
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": id, "size": cfg_bytes.len()},
            "layers": layer_descs,
        }))
        .unwrap_or_default();
        let mdigest = Digest::of_bytes(&manifest);
        if written.insert(mdigest.clone()) {
            let p = format!("blobs/sha256/{}", mdigest.hex());
            append_file(
                &mut tb,
                &p,
                manifest.len() as u64,
                mtime,
                &mut &manifest[..],
            )
            .map_err(werr)?;
        }
        let refs = tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>>>()?;
        let mdesc = |ann: Option<Value>| {
            let mut d =
                json!({"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": manifest.len()});
            if let Some(a) = ann {
                d["annotations"] = a;
            }
            d
        };
        if refs.is_empty() {
            index_entries.push(mdesc(None));
        }
        for r in &refs {
            let tag = r.tag().unwrap_or("latest");
            index_entries.push(mdesc(Some(json!({
                ANNOTATION_IMAGE_NAME: r.to_string(),
                ANNOTATION_REF_NAME: tag,
            }))));
            if let Some(top) = cfg.rootfs.diff_ids.last() {
                repositories
                    .entry(r.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.hex().to_string());
            }
        }
        manifest_json.push(ManifestEntry {
            config: cfg_path,
            repo_tags: if refs.is_empty() {
                None
            } else {
                Some(refs.iter().map(Reference::familiar).collect())
            },
            layers: layer_paths,
        });
    }

    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": index_entries,
    }))
    .unwrap_or_default();
    let manifest = serde_json::to_vec(&manifest_json).unwrap_or_default();
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("index.json", index),
        ("manifest.json", manifest),
        ("oci-layout", layout),
    ];
    if !repositories.is_empty() {
        files.push((
            "repositories",
            serde_json::to_vec(&repositories).unwrap_or_default(),
        ));
    }
    for (name, bytes) in files {
        append_file(&mut tb, name, bytes.len() as u64, 0, &mut &bytes[..]).map_err(werr)?;
    }
    tb.into_inner().map_err(werr)?.flush().map_err(werr)?;
    Ok(())
}

fn append_file<W: Write, R: Read>(
    tb: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    mtime: u64,
    r: &mut R,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path(path)?;
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_cksum();
    tb.append(&h, r)
}
