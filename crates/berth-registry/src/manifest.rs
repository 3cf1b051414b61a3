//! Manifests and indexes as registries serve them, and the choice of a platform.

use berth_image::Digest;
use serde::Deserialize;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The media types a pull accepts, as moby sends them in `Accept`.
pub const ACCEPT: [&str; 6] = [
    OCI_INDEX,
    DOCKER_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    "application/json",
];

/// Manifests larger than this are refused before they are parsed (containerd's limit).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Image configs larger than this are refused.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub urls: Vec<String>,
}

/// A platform as indexes name it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: String,
}

impl Platform {
    /// The host's platform (`linux/amd64`, `linux/arm64/v8`, ...).
    pub fn host() -> Platform {
        let architecture = berth_image::config::host_architecture().to_string();
        let variant = match architecture.as_str() {
            "arm64" => "v8",
            _ => "",
        };
        Platform {
            os: "linux".into(),
            architecture,
            variant: variant.into(),
        }
    }

    /// Parses `os[/arch[/variant]]` as `--platform` takes it, normalised like containerd
    /// (`x86_64` → `amd64`, `aarch64` → `arm64`, arm64's default variant `v8`).
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if s.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ));
        }
        let arch = match parts
            .get(1)
            .copied()
            .unwrap_or(berth_image::config::host_architecture())
        {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" => "386",
            a => a,
        };
        let mut variant = parts.get(2).copied().unwrap_or("").to_string();
        if arch == "arm64" && (variant.is_empty() || variant == "8") {
            variant = "v8".into();
        }
        if arch == "amd64" && variant == "v1" {
            variant.clear();
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch.to_string(),
            variant,
        })
    }

    /// `linux/amd64` (the variant only when there is one).
    pub fn format(&self) -> String {
        let mut s = format!("{}/{}", self.os, self.architecture);
        if !self.variant.is_empty() {
            s.push('/');
            s.push_str(&self.variant);
        }
        s
    }

    /// How well `candidate` serves this platform: `None` when it cannot run here, else a
    /// rank (lower is better), as containerd's `platforms.Only` orders them: the exact
    /// variant, then older variants of the same architecture, then (amd64) 386.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        if !candidate.os.eq_ignore_ascii_case(&self.os) {
            return None;
        }
        let variants: &[&str] = match self.architecture.as_str() {
            "amd64" => &["v4", "v3", "v2", ""],
            "arm64" => &["v8", ""],
            "arm" => &["v8", "v7", "v6", "v5", ""],
            _ => &[""],
        };
        let want = variants
            .iter()
            .position(|v| *v == self.variant)
            .unwrap_or(variants.len().saturating_sub(1));
        if candidate.architecture == self.architecture {
            let v = if candidate.variant == "v1" && self.architecture == "amd64" {
                ""
            } else {
                candidate.variant.as_str()
            };
            let v = if v.is_empty() && self.architecture == "arm64" {
                "v8"
            } else {
                v
            };
            if v == self.variant || (v.is_empty() && self.variant.is_empty()) {
                return Some(0);
            }
            return variants[want..].iter().position(|x| *x == v).map(|p| p + 1);
        }
        if self.architecture == "amd64" && candidate.architecture == "386" {
            return Some(100);
        }
        None
    }
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// A Docker manifest list or OCI index.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// A manifest as fetched: what kind it is by its media type (the header's, else the body's).
pub enum Fetched {
    Image(ImageManifest),
    Index(Index),
    Schema1,
}

/// Classifies and parses a manifest body.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Fetched, String> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion", default)]
        schema_version: i64,
        #[serde(rename = "mediaType", default)]
        media_type: String,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let probe: Probe =
        serde_json::from_slice(body).map_err(|e| format!("invalid manifest: {e}"))?;
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let media = if probe.media_type.is_empty() {
        ct
    } else {
        probe.media_type.as_str()
    };
    if probe.schema_version == 1 || media == DOCKER_SCHEMA1 || media == DOCKER_SCHEMA1_SIGNED {
        return Ok(Fetched::Schema1);
    }
    let is_index = media == OCI_INDEX
        || media == DOCKER_LIST
        || (probe.manifests.is_some() && probe.config.is_none());
    if is_index {
        serde_json::from_slice(body)
            .map(Fetched::Index)
            .map_err(|e| format!("invalid manifest list: {e}"))
    } else {
        serde_json::from_slice(body)
            .map(Fetched::Image)
            .map_err(|e| format!("invalid manifest: {e}"))
    }
}

/// The best manifest of an index for `want`, or `None`.
pub fn choose<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .filter_map(|d| {
            let p = d.platform.clone().unwrap_or_default();
            want.rank(&p).map(|r| (r, d))
        })
        .min_by_key(|(r, _)| *r)
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn platforms_rank_like_containerd() {
        let amd = p("linux/amd64");
        assert_eq!(amd.rank(&p("linux/amd64")), Some(0));
        assert_eq!(amd.rank(&p("linux/386")), Some(100));
        assert_eq!(amd.rank(&p("linux/arm64")), None);
        assert_eq!(amd.rank(&p("windows/amd64")), None);
        let arm7 = p("linux/arm/v7");
        assert!(arm7.rank(&p("linux/arm/v6")).is_some());
        assert_eq!(arm7.rank(&p("linux/arm/v8")), None);
        assert_eq!(p("linux/aarch64").format(), "linux/arm64/v8");
        assert!(Platform::parse("linux//x").is_err());
    }

    #[test]
    fn index_choice_and_kinds() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"platform":{"architecture":"arm64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let Ok(Fetched::Index(i)) = parse("", idx) else {
            panic!("index")
        };
        let d = choose(&i, &p("linux/amd64")).unwrap();
        assert!(d.digest.hex().starts_with('b'));
        assert!(choose(&i, &p("linux/arm64"))
            .unwrap()
            .digest
            .hex()
            .starts_with('a'));
        assert!(choose(&i, &p("linux/s390x")).is_none());
        assert!(matches!(
            parse("", br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Ok(Fetched::Schema1)
        ));
        assert!(parse("", b"not json").is_err());
    }
}
