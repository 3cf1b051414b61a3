//! Errors of talking to a registry, worded as moby words them.

/// What went wrong, classified the way the Engine API needs it (status codes) and worded
/// as dockerd words it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository does not exist or the credentials do not reach it (404 in moby).
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {reason}")]
    AccessDenied { name: String, reason: String },
    /// The tag or digest is not in the repository (404 in moby).
    #[error("manifest for {reference} not found: {reason}")]
    ManifestUnknown { reference: String, reason: String },
    /// No manifest of a list fits the platform asked for (mid-stream in moby).
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    /// Docker's schema 1 manifests, which moby 28 no longer pulls.
    #[error("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {reference} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/")]
    Schema1 { reference: String },
    /// Content that does not match its digest, or is malformed or too large.
    #[error("{0}")]
    BadContent(String),
    /// The registry answered with an error this client does not map further.
    #[error("{0}")]
    Registry(String),
    /// A login whose credentials the registry refused (401 in moby).
    #[error("{0}")]
    Unauthorized(String),
    /// The registry could not be reached (connection, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// A request this client refuses before asking any registry (400 in moby).
    #[error("{0}")]
    Invalid(String),
    /// The image store refused what was pulled.
    #[error(transparent)]
    Store(#[from] berth_image::Error),
}

impl Error {
    /// Whether moby answers this with 404 (the docker CLI relies on it).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::AccessDenied { .. } | Error::ManifestUnknown { .. }
        )
    }
}

/// Result of registry operations.
pub type Result<T> = std::result::Result<T, Error>;

/// One entry of a registry's error body (`{"errors":[{"code","message"}]}`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RegistryError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct RegistryErrors {
    #[serde(default)]
    pub errors: Vec<RegistryError>,
}

/// The registry's errors as Go's errcode prints them: `manifest unknown: manifest unknown`.
pub(crate) fn describe(status: u16, body: &[u8]) -> (Option<String>, String) {
    let parsed: Option<RegistryErrors> = serde_json::from_slice(body).ok();
    match parsed.and_then(|p| p.errors.into_iter().next()) {
        Some(e) => {
            let code = e.code.to_ascii_lowercase().replace('_', " ");
            let text = if e.message.is_empty() {
                code.clone()
            } else {
                format!("{code}: {}", e.message)
            };
            (Some(e.code), text)
        }
        None => (
            None,
            match status {
                401 => "unauthorized: authentication required".to_string(),
                403 => "denied: requested access to the resource is denied".to_string(),
                404 => "not found".to_string(),
                s => format!("unexpected status from registry: {s}"),
            },
        ),
    }
}
