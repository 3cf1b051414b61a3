//! API version constants and version-prefix handling.

/// The API version berth advertises (moby v28.2.2).
pub const API_VERSION: &str = "1.50";
/// The oldest API version berth accepts in a `/vX.Y/` prefix.
pub const MIN_API_VERSION: &str = "1.24";
/// The Docker Engine release whose API berth implements, reported as the server's
/// `Version` (`/version`, `docker info`'s `ServerVersion`, images' `DockerVersion`). Tools
/// compare that number against a minimum Docker version (testcontainers, provisioning
/// scripts, IDE plugins), and berth's own 0.x would fail them; berth's version travels
/// as its own component in `/version` and in the `Server` header.
pub const ENGINE_COMPAT_VERSION: &str = "28.2.2";
/// berth's own version, reported by `/version` (as a component) and `berth version`.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses "1.41" into (1, 41) so versions compare numerically.
pub fn parse(v: &str) -> Option<(u32, u32)> {
    let (maj, min) = v.split_once('.')?;
    Some((maj.parse().ok()?, min.parse().ok()?))
}

/// Splits a request path into its API version (if prefixed) and the rest.
/// `/v1.41/containers/json` → `(Some("1.41"), "/containers/json")`.
pub fn strip_prefix(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(idx) = rest.find('/') {
            let ver = &rest[..idx];
            if parse(ver).is_some() {
                return (Some(ver), &rest[idx..]);
            }
        }
    }
    (None, path)
}

/// Whether a requested version lies in the supported window.
pub fn supported(v: &str) -> bool {
    match (parse(v), parse(MIN_API_VERSION), parse(API_VERSION)) {
        (Some(v), Some(lo), Some(hi)) => v >= lo && v <= hi,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_version_prefix() {
        assert_eq!(
            strip_prefix("/v1.41/containers/json"),
            (Some("1.41"), "/containers/json")
        );
        assert_eq!(strip_prefix("/containers/json"), (None, "/containers/json"));
        assert_eq!(strip_prefix("/volumes"), (None, "/volumes"));
        assert!(supported("1.24") && supported("1.50") && !supported("1.51") && !supported("1.12"));
    }
}
