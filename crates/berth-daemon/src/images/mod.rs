//! Images as the daemon sees them: content in `berth_image::ImageStore`, names in the
//! database (`Refs` table), the set of images in the `Images` table.

pub mod handlers;
pub mod pull;
pub mod push;
pub mod search;

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::store::{Op, Store, Table};
use berth_api::filters::{label_matches, Filters};
use berth_api::image::ImageSummary;
use berth_api::ApiError;
use berth_image::{Digest, ImageStore, Reference};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The row kept per image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// When this daemon first stored it (RFC 3339).
    pub added: String,
}

/// Names and membership over the content store. Reads are served from memory; every
/// change is written through to the database in one transaction.
pub struct ImageService {
    pub store: ImageStore,
    refs: RwLock<BTreeMap<String, String>>,
    images: RwLock<BTreeMap<String, ImageRecord>>,
}

fn lock_err<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

impl ImageService {
    pub fn open(data_root: &Path) -> Result<ImageService> {
        Self::open_mapped(data_root, None)
    }

    /// Opens the image service; with `map` (a `--userns-remap` daemon) layers are
    /// unpacked with their owners shifted.
    pub fn open_mapped(
        data_root: &Path,
        map: Option<berth_image::idmap::IdMap>,
    ) -> Result<ImageService> {
        let store = match map {
            Some(m) => ImageStore::open_mapped(data_root.join("image"), m)?,
            None => ImageStore::open(data_root.join("image"))?,
        };
        let _ = store.clean_tmp();
        Ok(ImageService {
            store,
            refs: RwLock::new(BTreeMap::new()),
            images: RwLock::new(BTreeMap::new()),
        })
    }

    /// Loads names and images from the database.
    pub fn load(&self, db: &dyn Store) -> Result<()> {
        let mut refs = self.refs.write().unwrap_or_else(lock_err);
        for (k, v) in db.list(Table::Refs)? {
            refs.insert(k, String::from_utf8_lossy(&v).to_string());
        }
        let mut images = self.images.write().unwrap_or_else(lock_err);
        for (k, v) in db.list(Table::Images)? {
            if let Ok(rec) = serde_json::from_slice::<ImageRecord>(&v) {
                images.insert(k, rec);
            }
        }
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.images.read().unwrap_or_else(lock_err).len()
    }

    pub fn ids(&self) -> Vec<String> {
        self.images
            .read()
            .unwrap_or_else(lock_err)
            .keys()
            .cloned()
            .collect()
    }

    /// Familiar tags (`busybox:latest`) pointing at an image.
    /// Every `(image ID, [tag])` of the repository `name` (`docker save busybox` saves all
    /// of busybox's tags).
    pub fn tags_in_repository(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let Ok(want) = Reference::parse(name).map(|r| r.familiar_name()) else {
            return Vec::new();
        };
        let refs = self.refs.read().unwrap_or_else(lock_err);
        let mut out: Vec<(String, Vec<String>)> = refs
            .iter()
            .filter_map(|(full, id)| {
                let r = Reference::parse(full).ok()?;
                (r.familiar_name() == want && r.digest().is_none())
                    .then(|| (id.clone(), vec![r.familiar()]))
            })
            .collect();
        out.sort();
        out
    }

    pub fn tags_of(&self, id: &str) -> Vec<String> {
        let refs = self.refs.read().unwrap_or_else(lock_err);
        let mut tags: Vec<String> = refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .filter_map(|(k, _)| Reference::parse(k).ok())
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar())
            .collect();
        tags.sort();
        tags
    }

    /// `RepoDigests`: the `name@sha256:…` references (from pulls) pointing at an image.
    pub fn digests_of(&self, id: &str) -> Vec<String> {
        let refs = self.refs.read().unwrap_or_else(lock_err);
        let mut out: Vec<String> = refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .filter_map(|(k, _)| Reference::parse(k).ok())
            .filter(|r| r.digest().is_some())
            .map(|r| r.familiar())
            .collect();
        out.sort();
        out
    }

    /// Resolves what a user typed (full or short ID, name, name:tag) to an image ID.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let images = self.images.read().unwrap_or_else(lock_err);
        if let Some(hex) = name.strip_prefix("sha256:") {
            let matches: Vec<&String> = images
                .keys()
                .filter(|id| id[7..].starts_with(hex))
                .collect();
            if !hex.is_empty() && matches.len() == 1 {
                return Ok(matches[0].clone());
            }
            return Err(ApiError::no_such_image(name).into());
        }
        if let Ok(r) = Reference::parse(name) {
            let refs = self.refs.read().unwrap_or_else(lock_err);
            if let Some(id) = refs.get(&r.to_string()) {
                return Ok(id.clone());
            }
        }
        // A short or full hex ID.
        if !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let matches: Vec<&String> = images
                .keys()
                .filter(|id| id[7..].starts_with(name))
                .collect();
            if matches.len() == 1 {
                return Ok(matches[0].clone());
            }
        }
        match Reference::parse(name) {
            Ok(r) => Err(ApiError::no_such_image(&r.familiar()).into()),
            Err(_) => Err(ApiError::no_such_image(name).into()),
        }
    }

    fn digest(id: &str) -> Result<Digest> {
        Ok(Digest::parse(id)?)
    }

    /// The image's container defaults as the Engine API's `Config`.
    pub fn container_config(&self, id: &str) -> Result<berth_api::container::Config> {
        let cfg = self.store.image_config(&Self::digest(id)?)?;
        let value =
            serde_json::to_value(&cfg.config).map_err(|e| DaemonError::Other(e.to_string()))?;
        Ok(serde_json::from_value(value).unwrap_or_default())
    }

    pub fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>> {
        Ok(self.store.image_lower_dirs(&Self::digest(id)?)?)
    }

    pub fn image_size(&self, id: &str) -> i64 {
        Self::digest(id)
            .ok()
            .and_then(|d| self.store.image_size(&d).ok())
            .unwrap_or(0) as i64
    }

    /// `LayersSize` of `system df`: what the layers really take on disk (files plus the
    /// blob or tar-split kept for each tar).
    pub fn layers_size(&self) -> i64 {
        self.store
            .layers()
            .unwrap_or_default()
            .iter()
            .map(|l| self.store.layer_disk_usage(l).unwrap_or(0) as i64)
            .sum()
    }

    /// What `docker ps` shows in IMAGE: the name given, while it still names this image.
    pub fn display_name_for(&self, given: &str, id: &str) -> String {
        match self.resolve(given) {
            Ok(cur) if cur == id => given.to_string(),
            _ => id.to_string(),
        }
    }

    /// The `ancestor` filter: the named image is this one (or an image of its layers).
    pub fn is_ancestor(&self, wanted: &str, id: &str, given: &str) -> bool {
        if wanted == given {
            return true;
        }
        match self.resolve(wanted) {
            Ok(w) if w == id => true,
            Ok(w) => {
                // An image whose layers are a prefix of this image's layers is an ancestor.
                let (Ok(a), Ok(b)) = (Self::digest(&w), Self::digest(id)) else {
                    return false;
                };
                match (self.store.image_config(&a), self.store.image_config(&b)) {
                    (Ok(ca), Ok(cb)) => {
                        let (la, lb) = (ca.chain_ids(), cb.chain_ids());
                        !la.is_empty() && la.len() <= lb.len() && lb[..la.len()] == la[..]
                    }
                    _ => false,
                }
            }
            Err(_) => false,
        }
    }

    /// Records an image and points tags (familiar or full) at it, in one transaction.
    pub fn register(
        &self,
        db: &dyn Store,
        id: &Digest,
        tags: &[String],
    ) -> Result<Vec<(String, Option<String>)>> {
        let id_s = id.to_string();
        let mut ops = Vec::new();
        let is_new = !self
            .images
            .read()
            .unwrap_or_else(lock_err)
            .contains_key(&id_s);
        let rec = ImageRecord {
            id: id_s.clone(),
            added: crate::containers::now_rfc3339(),
        };
        if is_new {
            ops.push(Op::Put {
                table: Table::Images,
                key: id_s.clone(),
                value: serde_json::to_vec(&rec).map_err(|e| DaemonError::Other(e.to_string()))?,
            });
        }
        let mut moved = Vec::new();
        let mut parsed = Vec::new();
        for t in tags {
            let r = Reference::parse(t)?;
            let previous = self
                .refs
                .read()
                .unwrap_or_else(lock_err)
                .get(&r.to_string())
                .cloned();
            if previous.as_deref() != Some(id_s.as_str()) {
                moved.push((r.familiar(), previous));
            }
            ops.push(Op::Put {
                table: Table::Refs,
                key: r.to_string(),
                value: id_s.as_bytes().to_vec(),
            });
            parsed.push(r);
        }
        db.apply(ops)?
            .map_err(|r| DaemonError::Other(format!("{r:?}")))?;
        if is_new {
            self.images
                .write()
                .unwrap_or_else(lock_err)
                .insert(id_s.clone(), rec);
        }
        let mut refs = self.refs.write().unwrap_or_else(lock_err);
        for r in parsed {
            refs.insert(r.to_string(), id_s.clone());
        }
        Ok(moved)
    }

    /// Removes one name.
    pub fn untag(&self, db: &dyn Store, full_ref: &str) -> Result<()> {
        db.apply(vec![Op::Delete {
            table: Table::Refs,
            key: full_ref.to_string(),
        }])?
        .map_err(|r| DaemonError::Other(format!("{r:?}")))?;
        self.refs.write().unwrap_or_else(lock_err).remove(full_ref);
        Ok(())
    }

    /// Full references pointing at an image.
    pub fn refs_of(&self, id: &str) -> Vec<String> {
        self.refs
            .read()
            .unwrap_or_else(lock_err)
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The full reference a user's name denotes, if it is a name (not an ID) we have.
    pub fn ref_for_name(&self, name: &str) -> Option<String> {
        let r = Reference::parse(name).ok()?;
        let key = r.to_string();
        self.refs
            .read()
            .unwrap_or_else(lock_err)
            .contains_key(&key)
            .then_some(key)
    }

    /// Drops an image's record and every name; then frees content nothing else uses.
    pub fn forget(&self, db: &dyn Store, id: &str) -> Result<()> {
        let mut ops = vec![Op::Delete {
            table: Table::Images,
            key: id.to_string(),
        }];
        for r in self.refs_of(id) {
            ops.push(Op::Delete {
                table: Table::Refs,
                key: r,
            });
        }
        db.apply(ops)?
            .map_err(|r| DaemonError::Other(format!("{r:?}")))?;
        self.images.write().unwrap_or_else(lock_err).remove(id);
        self.refs
            .write()
            .unwrap_or_else(lock_err)
            .retain(|_, v| v != id);
        Ok(())
    }

    /// Garbage-collects content not used by any remaining image.
    pub fn gc(&self) {
        let keep: Vec<Digest> = self
            .ids()
            .iter()
            .filter_map(|i| Digest::parse(i).ok())
            .collect();
        if let Err(e) = self.store.gc(&keep) {
            tracing::warn!("image gc: {e}");
        }
    }

    fn summary(&self, daemon: &Daemon, id: &str, count_containers: bool) -> Option<ImageSummary> {
        let d = Digest::parse(id).ok()?;
        let cfg = self.store.image_config(&d).ok()?;
        let created = cfg
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let size = self.store.image_size(&d).unwrap_or(0) as i64;
        let containers = if count_containers {
            daemon.containers.users_of_image(id).len() as i64
        } else {
            -1
        };
        Some(ImageSummary {
            id: id.to_string(),
            parent_id: String::new(),
            repo_tags: self.tags_of(id),
            repo_digests: self.digests_of(id),
            created,
            size,
            shared_size: -1,
            labels: cfg
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default(),
            containers,
        })
    }

    /// Counts rows by what their layers take on disk (files plus the tar or compressed
    /// blob kept for each), as `system df` reports them: `Size` here and, with
    /// [`Self::fill_shared_sizes`]`(rows, true)`, `SharedSize`; with `LayersSize` from
    /// [`Self::layers_size`] the client's reclaimable sum stays true.
    pub fn count_on_disk(&self, rows: &mut [ImageSummary]) {
        for row in rows.iter_mut() {
            row.size = self
                .chains_of(&row.id)
                .iter()
                .map(|c| self.store.layer_disk_usage(c).unwrap_or(0) as i64)
                .sum();
        }
    }

    fn chains_of(&self, id: &str) -> Vec<Digest> {
        Digest::parse(id)
            .ok()
            .and_then(|d| self.store.image_config(&d).ok())
            .map(|c| c.chain_ids())
            .unwrap_or_default()
    }

    /// Fills each row's `SharedSize`: the size of its layers that another image also uses
    /// (moby's definition; `system df` needs it to say what removing images would free),
    /// by content or, with `on_disk`, by bytes on disk.
    pub fn fill_shared_sizes(&self, rows: &mut [ImageSummary], on_disk: bool) {
        let chains_of = |id: &str| self.chains_of(id);
        let size = |c: &Digest| {
            if on_disk {
                self.store.layer_disk_usage(c)
            } else {
                self.store.layer_size(c)
            }
            .unwrap_or(0) as i64
        };
        let mut users: std::collections::HashMap<Digest, usize> = Default::default();
        for id in self.ids() {
            let mut chains = chains_of(&id);
            chains.dedup();
            for c in chains {
                *users.entry(c).or_default() += 1;
            }
        }
        for row in rows.iter_mut() {
            row.shared_size = chains_of(&row.id)
                .iter()
                .filter(|c| users.get(*c).copied().unwrap_or(0) > 1)
                .map(size)
                .sum();
        }
    }

    /// `GET /images/json` rows, newest first.
    pub fn summaries(
        &self,
        daemon: &Daemon,
        f: &Filters,
        count_containers: bool,
    ) -> Result<Vec<ImageSummary>, ApiError> {
        f.validate(&["before", "dangling", "label", "reference", "since", "until"])?;
        let mut out: Vec<ImageSummary> = self
            .ids()
            .iter()
            .filter_map(|id| self.summary(daemon, id, count_containers))
            .collect();
        let created_of = |name: &str| -> Result<i64, ApiError> {
            let id = self.resolve(name).map_err(|e| e.to_api())?;
            Ok(self
                .summary(daemon, &id, false)
                .map(|s| s.created)
                .unwrap_or(0))
        };
        if let Some(d) = f.get("dangling").first() {
            let want = match d.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "invalid filter 'dangling=[{d}]'"
                    )))
                }
            };
            out.retain(|s| s.repo_tags.is_empty() == want);
        }
        for l in f.get("label") {
            out.retain(|s| label_matches(l, &s.labels));
        }
        if let Some(b) = f.get("before").first() {
            let t = created_of(b)?;
            out.retain(|s| s.created < t);
        }
        if let Some(b) = f.get("since").first() {
            let t = created_of(b)?;
            out.retain(|s| s.created > t);
        }
        if let Some(u) = f.get("until").first() {
            let t = crate::containers::prune::parse_until(u)?;
            out.retain(|s| s.created < t);
        }
        let refs = f.get("reference");
        if !refs.is_empty() {
            let matches = |t: &String| refs.iter().any(|pat| reference_matches(pat, t));
            out.retain(|s| s.repo_tags.iter().chain(&s.repo_digests).any(matches));
            for s in out.iter_mut() {
                s.repo_tags.retain(matches);
                s.repo_digests.retain(matches);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// `reference` filter: glob on the familiar name, with or without the tag (a digest
/// reference, `name@sha256:…`, matches by its name).
pub fn reference_matches(pattern: &str, tag: &str) -> bool {
    let name = match tag.split_once('@') {
        Some((name, _)) => name,
        None => tag.rsplit_once(':').map(|(n, _)| n).unwrap_or(tag),
    };
    glob(pattern, tag) || glob(pattern, name)
}

fn glob(pattern: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                rec(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && rec(p, &s[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => rec(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &s[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(!reference_matches("*", "library/busybox:latest"));
    }
}
