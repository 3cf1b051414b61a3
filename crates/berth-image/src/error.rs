//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in berth-image. Messages are lower-case and
/// name the object, so the daemon can pass them through to API clients; the
/// reference variants carry Docker's exact texts because clients match them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference did not parse; the string is Docker's message verbatim
    /// (`invalid reference format`, `... must be lowercase`, ...).
    #[error("{0}")]
    InvalidReference(String),

    /// A digest string is malformed or uses an unsupported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The offending string.
        digest: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being verified (blob, layer, config, ...).
        what: String,
        /// The announced digest.
        expected: String,
        /// What the content actually hashes to.
        actual: String,
    },

    /// A blob is not in the content store.
    #[error("blob {0} not found")]
    BlobNotFound(String),

    /// A layer (by chain id) is not in the layer store.
    #[error("layer {0} not found")]
    LayerNotFound(String),

    /// An image config is missing or unusable.
    #[error("image {id}: {reason}")]
    Image {
        /// The image id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A layer tar entry was refused (path escape, bad link, ...).
    #[error("layer entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The entry name as written in the tar.
        entry: String,
        /// Why it was refused.
        reason: String,
    },

    /// Applying a layer tar entry failed at the filesystem level.
    #[error("layer entry {entry:?}: {source}")]
    Entry {
        /// The entry name as written in the tar.
        entry: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An image archive (docker save / OCI layout) is malformed.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),

    /// JSON (config, manifest, index) did not parse.
    #[error("invalid json in {what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// An import `--change` instruction was not understood.
    #[error("invalid change {0:?}")]
    InvalidChange(String),

    /// A `--change` keyword outside the set commit/import accept (moby's text).
    #[error("{0} is not a valid change command")]
    NotAChangeCommand(String),

    /// A filesystem operation on a named path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (open, rename, mount, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A stream (tar, decompressor, writer) failed.
    #[error("{what}: {source}")]
    Stream {
        /// What stream.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Mount/unmount failures, naming the target.
    #[error("{op} {target}: {reason}")]
    Mount {
        /// mount or unmount.
        op: &'static str,
        /// The mount point.
        target: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn stream(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Stream {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn archive(msg: impl Into<String>) -> Self {
        Error::InvalidArchive(msg.into())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
