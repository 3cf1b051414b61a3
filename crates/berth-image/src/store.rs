//! The content store: verified blobs and unpacked layers on one root dir.
//!
//! ```text
//! <root>/blobs/sha256/<hex>          every blob, verified on write (temp + rename)
//! <root>/layers/<chain hex>/diff/    each layer unpacked once, shared read-only
//! <root>/layers/<chain hex>/layer.json
//! <root>/layers/<chain hex>/tar-split.gz  the layer's tar without file contents
//!                                   (see [`crate::tarsplit`]); pulled layers keep
//!                                   their compressed blob instead
//! <root>/tmp/                        staging; same filesystem so renames are atomic
//! ```
//!
//! The store holds content only; which names point at which image is the
//! daemon's business. Writes are crash-safe by construction: a blob or
//! layer appears under its final name only by `rename` of a complete temp
//! file/dir, so a crash leaves at worst garbage in `tmp/` (see
//! [`ImageStore::clean_tmp`]), never a half-written blob or layer. Two
//! writers of the same content race harmlessly: the loser's rename fails or
//! replaces identical bytes, and its temp copy is dropped.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::{NamedTempFile, TempDir};

use crate::compression;
use crate::config::ImageConfig;
use crate::digest::{Digest, Hasher, HashingWriter};
use crate::error::{Error, Result};
use crate::tarsplit;
use crate::unpack;

/// Handle on a store root. Cheap to clone; all state is on disk, so several
/// handles (threads, processes) may share a root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    /// Owner shift for layers of a `--userns-remap` daemon.
    id_map: Option<std::sync::Arc<crate::idmap::IdMap>>,
}

/// What the store knows about one unpacked layer (`layer.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Identity of the layer in its stack; names its directory.
    pub chain_id: Digest,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: Digest,
    /// Chain id of the layer beneath, if any.
    pub parent: Option<Digest>,
    /// The blob holding this layer's tar as received (maybe compressed), kept for pulled
    /// layers (a push sends it as it came) and for tars a tar-split cannot replay;
    /// `save` and `push` read it back from here.
    pub blob: Option<Digest>,
    /// Length of the uncompressed tar (`docker save` needs it up front).
    pub tar_size: u64,
    /// The tar is rebuilt from the unpacked files and `tar-split.gz` (no blob kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tar_split: bool,
    /// Sum of regular file sizes in the layer.
    pub size: u64,
}

/// A blob written to `tmp/` and hashed, not yet visible in the store. Lets a
/// caller verify several related blobs (an archive's config and layers)
/// before committing any of them.
#[derive(Debug)]
pub struct StagedBlob {
    file: NamedTempFile,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    /// The digest of the staged content.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    /// Its length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Reopens the staged content for reading (e.g. to unpack it).
    pub fn reopen(&self) -> Result<File> {
        self.file
            .reopen()
            .map_err(|e| Error::io("reopen staged blob", self.file.path(), e))
    }
}

/// Outcome of [`ImageStore::gc`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcStats {
    /// Blobs removed.
    pub blobs_removed: Vec<Digest>,
    /// Layers (chain ids) removed.
    pub layers_removed: Vec<Digest>,
    /// Bytes given back: removed blobs plus removed layers' contents
    /// (`SpaceReclaimed` of `docker image prune`).
    pub bytes_freed: u64,
}

impl ImageStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<ImageStore> {
        let root = root.as_ref().to_path_buf();
        for d in ["", "blobs", "blobs/sha256", "layers", "tmp"] {
            let p = root.join(d);
            berth_perms::create_dir_all(&p, berth_perms::Mode::PRIVATE_DIR)
                .map_err(|e| Error::io("create directory", &p, e))?;
        }
        Ok(ImageStore { root, id_map: None })
    }

    /// Opens a store whose layers are unpacked with their owners shifted through `map`
    /// (a `--userns-remap` daemon keeps such a store of its own).
    pub fn open_mapped(root: impl AsRef<Path>, map: crate::idmap::IdMap) -> Result<ImageStore> {
        let mut s = Self::open(root)?;
        s.id_map = Some(std::sync::Arc::new(map));
        Ok(s)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removes leftovers of interrupted writes. Call only while nothing
    /// else writes to this store (daemon start-up).
    pub fn clean_tmp(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        let rd = fs::read_dir(&tmp).map_err(|e| Error::io("read directory", &tmp, e))?;
        for ent in rd.flatten() {
            let p = ent.path();
            let r = if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(|e| Error::io("remove", &p, e))?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- blobs

    /// Where a blob lives (whether or not it exists yet).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Whether the store has a blob.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Streams `r` into `tmp/`, hashing it; nothing is visible yet.
    pub fn stage_blob<R: Read>(&self, mut r: R) -> Result<StagedBlob> {
        let tmp = self.tmp_dir();
        let file = NamedTempFile::with_prefix_in("blob-", &tmp)
            .map_err(|e| Error::io("create temp file in", &tmp, e))?;
        let mut w = HashingWriter {
            inner: io::BufWriter::new(file),
            hasher: Hasher::default(),
        };
        io::copy(&mut r, &mut w).map_err(|e| Error::stream("write blob", e))?;
        let size = w.hasher.len();
        let digest = w.hasher.finish();
        let file = w
            .inner
            .into_inner()
            .map_err(|e| Error::stream("write blob", e.into_error()))?;
        Ok(StagedBlob { file, digest, size })
    }

    /// Makes a staged blob visible under its digest.
    pub fn commit_blob(&self, staged: StagedBlob) -> Result<Digest> {
        let dest = self.blob_path(&staged.digest);
        if dest.is_file() {
            return Ok(staged.digest);
        }
        staged
            .file
            .as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", staged.file.path(), e))?;
        staged
            .file
            .persist(&dest)
            .map_err(|e| Error::io("rename blob into place", &dest, e.error))?;
        Ok(staged.digest)
    }

    /// Stores a blob and returns its digest. Streaming, so layers of any size
    /// pass through without being held in memory.
    pub fn put_blob<R: Read>(&self, r: R) -> Result<Digest> {
        let staged = self.stage_blob(r)?;
        self.commit_blob(staged)
    }

    /// Stores a blob that must hash to `expected` (registry pulls, archive
    /// loads); on mismatch nothing is stored.
    pub fn put_blob_expect<R: Read>(&self, r: R, expected: &Digest) -> Result<()> {
        let staged = self.stage_blob(r)?;
        if staged.digest != *expected {
            return Err(Error::DigestMismatch {
                what: "blob".to_string(),
                expected: expected.to_string(),
                actual: staged.digest.to_string(),
            });
        }
        self.commit_blob(staged)?;
        Ok(())
    }

    /// Stores an in-memory blob (configs, manifests).
    pub fn put_blob_bytes(&self, b: &[u8]) -> Result<Digest> {
        self.put_blob(b)
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
            _ => Error::io("open blob", &p, e),
        })
    }

    /// Reads a whole blob into memory (configs, manifests: small ones).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut v)
            .map_err(|e| Error::io("read blob", self.blob_path(d), e))?;
        Ok(v)
    }

    /// Size of a blob in bytes.
    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        Ok(self
            .open_blob(d)?
            .metadata()
            .map_err(|e| Error::io("stat blob", self.blob_path(d), e))?
            .len())
    }

    /// Removes a blob (no reference checks: see [`Self::gc`]). Missing is fine.
    pub fn delete_blob(&self, d: &Digest) -> Result<()> {
        let p = self.blob_path(d);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove blob", &p, e)),
            _ => Ok(()),
        }
    }

    /// Digests of every blob in the store.
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let rd = fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))?;
        Ok(rd
            .flatten()
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()).ok())
            .collect())
    }

    // --------------------------------------------------------------- layers

    fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    /// The unpacked contents of a layer: an overlay lowerdir.
    pub fn layer_diff_path(&self, chain_id: &Digest) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }

    /// Whether a layer is unpacked in the store.
    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_dir(chain_id).join("layer.json").is_file()
    }

    /// Metadata of an unpacked layer.
    pub fn layer(&self, chain_id: &Digest) -> Result<LayerInfo> {
        let p = self.layer_dir(chain_id).join("layer.json");
        let b = fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::LayerNotFound(chain_id.to_string()),
            _ => Error::io("read", &p, e),
        })?;
        serde_json::from_slice(&b).map_err(|e| Error::json(format!("layer {chain_id}"), e))
    }

    /// Size of a layer's contents (sum of regular file sizes).
    pub fn layer_size(&self, chain_id: &Digest) -> Result<u64> {
        Ok(self.layer(chain_id)?.size)
    }

    /// Chain ids of every unpacked layer.
    pub fn layers(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("layers");
        let rd = fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))?;
        Ok(rd
            .flatten()
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()).ok())
            .filter(|d| self.has_layer(d))
            .collect())
    }

    /// Applies a layer on top of `parent` (a chain id) from a stream that
    /// may be plain, gzip or zstd, unpacking it and recording its tar-split, so
    /// that the store keeps one copy of the layer (its files) and rebuilds the
    /// tar for save and push. A tar the tar-split cannot replay is kept as a
    /// blob instead (the stream is staged for that while it unpacks). When
    /// `expected_diff_id` is given and the layer already exists, nothing is
    /// read; when the content disagrees with it, nothing is kept.
    pub fn apply_layer<R: Read>(
        &self,
        parent: Option<&Digest>,
        r: R,
        expected_diff_id: Option<&Digest>,
    ) -> Result<LayerInfo> {
        if let Some(d) = expected_diff_id {
            let chain = Digest::chain_id(parent, d);
            if self.has_layer(&chain) {
                return self.layer(&chain);
            }
        }
        let tmp = self.tmp_dir();
        let blob_file = NamedTempFile::with_prefix_in("blob-", &tmp)
            .map_err(|e| Error::io("create temp file in", &tmp, e))?;
        let out = BlobWriter::new(blob_file).map_err(|e| Error::stream("write layer blob", e))?;
        let mut tee = Tee {
            inner: r,
            out,
            err: None,
        };
        let res = self.unpack_into_temp(parent, &mut tee, expected_diff_id, true);
        if tee.err.is_some() {
            return Err(Error::stream("write layer blob", blob_error(tee.out)));
        }
        let (tmpdir, stats, split) = res?;
        // Trailing bytes after the compressed stream still belong to the blob.
        io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::stream("read layer", e))?;
        if tee.err.is_some() {
            return Err(Error::stream("write layer blob", blob_error(tee.out)));
        }
        if split {
            return self.commit_layer(parent, tmpdir, stats, None);
        }
        let (blob_file, blob_digest, size) = tee
            .out
            .finish()
            .map_err(|e| Error::stream("write layer blob", e))?;
        let blob = self.commit_blob(StagedBlob {
            file: blob_file,
            digest: blob_digest,
            size,
        })?;
        self.commit_layer(parent, tmpdir, stats, Some(blob))
    }

    /// Applies a layer whose raw bytes are already a blob in the store
    /// (registry pulls store the compressed blob first).
    pub fn apply_layer_blob(
        &self,
        parent: Option<&Digest>,
        blob: &Digest,
        expected_diff_id: Option<&Digest>,
    ) -> Result<LayerInfo> {
        if let Some(d) = expected_diff_id {
            let chain = Digest::chain_id(parent, d);
            if self.has_layer(&chain) {
                return self.layer(&chain);
            }
        }
        let f = io::BufReader::new(self.open_blob(blob)?);
        let (tmpdir, stats, _) = self.unpack_into_temp(parent, f, expected_diff_id, false)?;
        self.commit_layer(parent, tmpdir, stats, Some(blob.clone()))
    }

    /// Unpacks a pulled layer while its compressed blob streams in from the registry: the
    /// blob is staged and hashed on the way, and the layer and its blob are kept only when
    /// the blob is `blob_digest` and the tar is `diff_id`. When something fails, the
    /// source's own error (the network, a body longer than announced) and then a digest
    /// mismatch are reported before what the unpacker made of the bytes, as a pull that
    /// downloads first and unpacks after would report them.
    pub fn apply_layer_download<R: Read>(
        &self,
        parent: Option<&Digest>,
        r: R,
        diff_id: &Digest,
        blob_digest: &Digest,
    ) -> Result<LayerInfo> {
        let tmp = self.tmp_dir();
        let blob_file = NamedTempFile::with_prefix_in("blob-", &tmp)
            .map_err(|e| Error::io("create temp file in", &tmp, e))?;
        let out = BlobWriter::new(blob_file).map_err(|e| Error::stream("write layer blob", e))?;
        let mut tee = Tee {
            inner: SourceErrors {
                inner: r,
                err: None,
            },
            out,
            err: None,
        };
        let unpacked = self.unpack_into_temp(parent, &mut tee, Some(diff_id), false);
        if let Some(e) = tee.inner.err.take() {
            return Err(Error::stream("read layer", e));
        }
        if tee.err.is_none() {
            if let Err(e) = io::copy(&mut tee, &mut io::sink()) {
                return Err(Error::stream("read layer", e));
            }
        }
        if tee.err.is_some() {
            return Err(Error::stream("write layer blob", blob_error(tee.out)));
        }
        let (blob_file, got, size) = tee
            .out
            .finish()
            .map_err(|e| Error::stream("write layer blob", e))?;
        if got != *blob_digest {
            return Err(Error::DigestMismatch {
                what: "layer blob".to_string(),
                expected: blob_digest.to_string(),
                actual: got.to_string(),
            });
        }
        let (tmpdir, stats, _) = unpacked?;
        let blob = self.commit_blob(StagedBlob {
            file: blob_file,
            digest: got,
            size,
        })?;
        self.commit_layer(parent, tmpdir, stats, Some(blob))
    }

    /// Unpacks into a new temporary layer directory; with `record`, also its tar-split
    /// (the flag returned says whether it replays the tar).
    fn unpack_into_temp<R: Read>(
        &self,
        parent: Option<&Digest>,
        r: R,
        expected_diff_id: Option<&Digest>,
        record: bool,
    ) -> Result<(TempDir, unpack::UnpackStats, bool)> {
        if let Some(p) = parent {
            if !self.has_layer(p) {
                return Err(Error::LayerNotFound(p.to_string()));
            }
        }
        let tmp = self.tmp_dir();
        let td = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(&tmp)
            .map_err(|e| Error::io("create temp directory in", &tmp, e))?;
        let diff = td.path().join("diff");
        fs::create_dir(&diff).map_err(|e| Error::io("create directory", &diff, e))?;
        let (_, plain) = compression::decompress(r).map_err(|e| Error::stream("read layer", e))?;
        // On error `td` drops here and takes the partial unpack with it.
        let split_path = td.path().join(tarsplit::FILE_NAME);
        let (stats, split) = if record {
            let rec = tarsplit::Recorder::create(&split_path)
                .map_err(|e| Error::io("create", &split_path, e))?;
            let reader = tarsplit::SplitReader::new(plain, rec.clone());
            let stats = unpack::unpack_layer_recorded(
                reader,
                &diff,
                self.id_map.as_deref(),
                Some(rec.clone()),
            )?;
            let usable =
                tarsplit::Recorder::finish(rec).map_err(|e| Error::io("write", &split_path, e))?;
            if !usable {
                let _ = fs::remove_file(&split_path);
            }
            (stats, usable)
        } else {
            let stats = unpack::unpack_layer_mapped(plain, &diff, self.id_map.as_deref())?;
            (stats, false)
        };
        if let Some(exp) = expected_diff_id {
            if *exp != stats.diff_id {
                return Err(Error::DigestMismatch {
                    what: "layer diff id".to_string(),
                    expected: exp.to_string(),
                    actual: stats.diff_id.to_string(),
                });
            }
        }
        Ok((td, stats, split))
    }

    /// Moves an unpacked layer into place; without `blob`, its tar is kept as the
    /// tar-split in `td`.
    fn commit_layer(
        &self,
        parent: Option<&Digest>,
        td: TempDir,
        stats: unpack::UnpackStats,
        blob: Option<Digest>,
    ) -> Result<LayerInfo> {
        let chain_id = Digest::chain_id(parent, &stats.diff_id);
        let info = LayerInfo {
            chain_id: chain_id.clone(),
            diff_id: stats.diff_id,
            parent: parent.cloned(),
            tar_split: blob.is_none(),
            blob,
            tar_size: stats.tar_size,
            size: stats.content_size,
        };
        if self.has_layer(&chain_id) {
            return self.layer(&chain_id);
        }
        let meta = td.path().join("layer.json");
        let mut f = File::create(&meta).map_err(|e| Error::io("create", &meta, e))?;
        f.write_all(&serde_json::to_vec_pretty(&info).unwrap_or_default())
            .map_err(|e| Error::io("write", &meta, e))?;
        drop(f);
        // Make the unpacked files durable before they become visible.
        if let Ok(d) = File::open(td.path()) {
            let _ = rustix::fs::syncfs(&d);
        }
        // What a layer holds is for root (the daemon mounts it), as its blob is.
        berth_perms::set_mode(td.path(), berth_perms::Mode::PRIVATE_DIR)
            .map_err(|e| Error::io("chmod", td.path(), e))?;
        let dest = self.layer_dir(&chain_id);
        match fs::rename(td.path(), &dest) {
            Ok(()) => {
                let _ = td.keep();
                Ok(info)
            }
            // Someone else committed the same layer first: theirs is as good.
            Err(_) if self.has_layer(&chain_id) => self.layer(&chain_id),
            Err(e) => Err(Error::io("rename layer into place", &dest, e)),
        }
    }

    /// Removes one layer directory (no reference checks: see [`Self::gc`]).
    pub fn delete_layer(&self, chain_id: &Digest) -> Result<()> {
        let dir = self.layer_dir(chain_id);
        // Move aside first so the layer vanishes atomically, then delete.
        let tmp = self.tmp_dir();
        let aside = tempfile::Builder::new()
            .prefix("del-")
            .tempdir_in(&tmp)
            .map_err(|e| Error::io("create temp directory in", &tmp, e))?;
        let target = aside.path().join("l");
        match fs::rename(&dir, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove layer", &dir, e)),
        }
        // `aside` drops here and removes the tree.
    }

    /// Opens a layer's uncompressed tar (decompressing its blob, or rebuilding it from
    /// its files and tar-split) and returns it with its length, for `docker save` and
    /// `docker push`.
    pub fn open_layer_tar(&self, chain_id: &Digest) -> Result<(Box<dyn Read>, LayerInfo)> {
        let info = self.layer(chain_id)?;
        if info.tar_split {
            let split = self.layer_dir(chain_id).join(tarsplit::FILE_NAME);
            let r = tarsplit::TarFromSplit::open(
                &split,
                &self.layer_diff_path(chain_id),
                info.diff_id.clone(),
            )
            .map_err(|e| Error::io("open", &split, e))?;
            return Ok((Box::new(io::BufReader::with_capacity(256 << 10, r)), info));
        }
        let blob = info
            .blob
            .clone()
            .ok_or_else(|| Error::LayerNotFound(format!("{chain_id} (no tar kept)")))?;
        let f = io::BufReader::new(self.open_blob(&blob)?);
        let (_, r) = compression::decompress(f)
            .map_err(|e| Error::stream(format!("read layer blob {blob}"), e))?;
        Ok((r, info))
    }

    /// Bytes a layer takes on disk: its files, plus the blob or tar-split kept for its tar.
    pub fn layer_disk_usage(&self, chain_id: &Digest) -> Result<u64> {
        let info = self.layer(chain_id)?;
        let kept = match &info.blob {
            Some(b) => self.blob_size(b).unwrap_or(0),
            None => fs::metadata(self.layer_dir(chain_id).join(tarsplit::FILE_NAME))
                .map(|m| m.len())
                .unwrap_or(0),
        };
        Ok(info.size + kept)
    }

    // --------------------------------------------------------------- images

    /// Stores an image config after checking that it parses and that all of
    /// its layers are present; returns the image id (digest of the bytes,
    /// which are kept verbatim).
    pub fn put_image_config(&self, bytes: &[u8]) -> Result<Digest> {
        let id = Digest::of_bytes(bytes);
        let cfg = ImageConfig::from_slice(bytes, &format!("image config {id}"))?;
        for c in cfg.chain_ids() {
            if !self.has_layer(&c) {
                return Err(Error::Image {
                    id: id.to_string(),
                    reason: format!("layer {c} not found"),
                });
            }
        }
        self.put_blob_bytes(bytes)
    }

    /// The original config bytes of an image.
    pub fn image_config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        self.read_blob(id).map_err(|e| match e {
            Error::BlobNotFound(_) => Error::Image {
                id: id.to_string(),
                reason: "config not found".to_string(),
            },
            e => e,
        })
    }

    /// The parsed config of an image.
    pub fn image_config(&self, id: &Digest) -> Result<ImageConfig> {
        let b = self.image_config_bytes(id)?;
        ImageConfig::from_slice(&b, &format!("image config {id}"))
    }

    /// Overlay lowerdirs for an image, topmost layer first (overlayfs order).
    pub fn image_lower_dirs(&self, id: &Digest) -> Result<Vec<PathBuf>> {
        let cfg = self.image_config(id)?;
        let mut out = Vec::new();
        for c in cfg.chain_ids().iter().rev() {
            if !self.has_layer(c) {
                return Err(Error::Image {
                    id: id.to_string(),
                    reason: format!("layer {c} not found"),
                });
            }
            out.push(self.layer_diff_path(c));
        }
        Ok(out)
    }

    /// Total content size of an image's layers (`docker images` SIZE).
    pub fn image_size(&self, id: &Digest) -> Result<u64> {
        let cfg = self.image_config(id)?;
        let mut total = 0;
        for c in cfg.chain_ids() {
            total += self.layer_size(&c)?;
        }
        Ok(total)
    }

    /// Removes every layer and blob not reachable from `keep`. `keep` lists
    /// image ids plus any other blob the caller still needs (manifests);
    /// a kept image keeps its config, its layers, their parents and the
    /// layers' tar blobs. Do not run concurrently with writers.
    pub fn gc(&self, keep: &[Digest]) -> Result<GcStats> {
        let mut keep_blobs: HashSet<Digest> = keep.iter().cloned().collect();
        let mut keep_layers: HashSet<Digest> = HashSet::new();
        for d in keep {
            let Ok(bytes) = self.read_blob(d) else {
                continue;
            };
            let Ok(cfg) = ImageConfig::from_slice(&bytes, "config") else {
                continue;
            };
            for c in cfg.chain_ids() {
                keep_layers.insert(c);
            }
        }
        let mut stats = GcStats::default();
        for l in self.layers()? {
            if keep_layers.contains(&l) {
                if let Ok(info) = self.layer(&l) {
                    if let Some(b) = info.blob {
                        keep_blobs.insert(b);
                    }
                }
            } else {
                stats.bytes_freed += self.layer_size(&l).unwrap_or(0);
                self.delete_layer(&l)?;
                stats.layers_removed.push(l);
            }
        }
        for b in self.blobs()? {
            if !keep_blobs.contains(&b) {
                stats.bytes_freed += self.blob_size(&b).unwrap_or(0);
                self.delete_blob(&b)?;
                stats.blobs_removed.push(b);
            }
        }
        Ok(stats)
    }
}

/// The error that stopped a [`BlobWriter`] (a full disk), for the message.
fn blob_error(w: BlobWriter) -> io::Error {
    match w.finish() {
        Err(e) => e,
        Ok(_) => io::Error::other("the blob writer stopped"),
    }
}

/// Copies everything read through it into `out` (the blob being kept).
struct Tee<R, W> {
    inner: R,
    out: W,
    err: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let msg = e.to_string();
            self.err = Some(e);
            return Err(io::Error::other(msg));
        }
        Ok(n)
    }
}

/// Remembers the first error of the reader it wraps, so that a failure of the source
/// (the network) is told apart from what a consumer made of its bytes.
struct SourceErrors<R> {
    inner: R,
    err: Option<io::Error>,
}

impl<R: Read> Read for SourceErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.err.is_none() {
                self.err = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// Writes a layer's blob as it streams by, hashing it, on a thread of its own: the thread
/// that unpacks the same bytes (inflate, the diff ID's hash, the files) is the pull's
/// bottleneck, and two cores do both at once. Chunks are handed over in a bounded queue.
struct BlobWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<io::Result<(NamedTempFile, Hasher)>>>,
}

impl BlobWriter {
    fn new(file: NamedTempFile) -> io::Result<BlobWriter> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
        let worker = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn(move || {
                let mut hasher = Hasher::default();
                let mut out = io::BufWriter::with_capacity(1 << 20, file);
                for chunk in rx {
                    hasher.update(&chunk);
                    out.write_all(&chunk)?;
                }
                let file = out.into_inner().map_err(|e| e.into_error())?;
                Ok((file, hasher))
            })?;
        Ok(BlobWriter {
            tx: Some(tx),
            worker: Some(worker),
        })
    }

    /// Waits for every chunk to be written: the file, its digest and length.
    fn finish(mut self) -> io::Result<(NamedTempFile, Digest, u64)> {
        drop(self.tx.take());
        let worker = self.worker.take().expect("finish runs once");
        let (file, hasher) = worker
            .join()
            .map_err(|_| io::Error::other("the blob writer panicked"))??;
        let len = hasher.len();
        Ok((file, hasher.finish(), len))
    }
}

/// A writer given up on (an error elsewhere) still waits for its thread, so that the
/// temporary file is gone when the caller returns.
impl Drop for BlobWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sent = self.tx.as_ref().map(|tx| tx.send(buf.to_vec()));
        if !matches!(sent, Some(Ok(()))) {
            // The worker stopped (a write failed): its error comes from `finish`.
            return Err(io::Error::other("the blob writer stopped"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
