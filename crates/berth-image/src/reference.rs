//! Docker-style image references (`busybox`, `localhost:5000/x:1`,
//! `name@sha256:...`), parsed and normalized exactly like Docker's
//! `reference.ParseNormalizedNamed` + `TagNameOnly`, so that the daemon's ref
//! table keys and the error texts clients see match real Docker.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry that unqualified names live on.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalized image reference: registry domain, repository path, and an
/// optional tag and/or digest. `Display` gives the fully qualified form
/// (`docker.io/library/busybox:latest`), which is what the daemon stores;
/// [`Reference::familiar`] gives the short form users see.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn invalid() -> Error {
    Error::InvalidReference("invalid reference format".to_string())
}

impl Reference {
    /// Parses and normalizes like `docker pull`: adds `docker.io`,
    /// `library/` for official images, and the `latest` tag when neither a
    /// tag nor a digest is given.
    pub fn parse(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_without_default_tag(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses and normalizes but leaves the tag empty when none is given;
    /// for commands that mean "the whole repository" (`docker push name`,
    /// `docker images name`, `docker pull --all-tags`).
    pub fn parse_without_default_tag(s: &str) -> Result<Reference> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::InvalidReference(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        if s.is_empty() {
            return Err(Error::InvalidReference(
                "repository name must have at least one component".to_string(),
            ));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_reference_digest(d)?)),
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&name_tag[..i], Some(&name_tag[i + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            if !is_valid_tag(t) {
                return Err(invalid());
            }
        }
        let (domain, path) = split_docker_domain(name);
        if path.to_lowercase() != path {
            return Err(Error::InvalidReference(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            )));
        }
        if !is_valid_domain(&domain)
            || path.is_empty()
            || !path.split('/').all(is_valid_path_component)
        {
            return Err(invalid());
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::InvalidReference(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fully qualified repository name without tag or digest
    /// (`docker.io/library/busybox`): the key for "all tags of a repo".
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if any (`latest` after [`Reference::parse`] of a bare name).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with another tag (and no digest); for `docker tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        if !is_valid_tag(tag) {
            return Err(Error::InvalidReference("invalid tag format".to_string()));
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same repository pinned to a digest (no tag); for RepoDigests.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// Repository name as users write it: `busybox`, `foo/bar`,
    /// `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The short form shown by `docker images` and in RepoTags
    /// (`busybox:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

/// Whether `tag` is a valid Docker tag (`[\w][\w.-]{0,127}`).
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

fn parse_reference_digest(d: &str) -> Result<Digest> {
    let (alg, hex) = d.split_once(':').ok_or_else(invalid)?;
    // Docker's grammar: algorithm component ([+._-] component)*, hex >= 32.
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|c| c.is_ascii_alphanumeric())
        });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    if alg != "sha256" {
        return Err(Error::InvalidReference(
            "unsupported digest algorithm".to_string(),
        ));
    }
    if hex.len() != 64 {
        return Err(Error::InvalidReference(
            "invalid checksum digest length".to_string(),
        ));
    }
    Digest::from_hex(hex)
        .map_err(|_| Error::InvalidReference("invalid checksum digest format".to_string()))
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        rest = format!("{OFFICIAL_REPO_PREFIX}{rest}");
    }
    (domain, rest)
}

fn is_valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [ipv6]:port
        let Some(end) = rest.find(']') else {
            return false;
        };
        let v6 = &rest[..end];
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(p) => return !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let ok =
            matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = format!("{}/{}", self.domain, self.path);
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn ok(s: &str, full: &str, familiar: &str) {
        let r = Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.to_string(), full, "{s}");
        assert_eq!(r.familiar(), familiar, "{s}");
        // Normalization is idempotent in both directions.
        assert_eq!(Reference::parse(full).unwrap(), r);
        assert_eq!(Reference::parse(familiar).unwrap(), r);
    }

    fn err(s: &str, msg: &str) {
        match Reference::parse(s) {
            Ok(r) => panic!("{s} parsed as {r}"),
            Err(e) => assert_eq!(e.to_string(), msg, "{s}"),
        }
    }

    #[test]
    fn normalizes() {
        ok(
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        ok(
            "busybox:1.36",
            "docker.io/library/busybox:1.36",
            "busybox:1.36",
        );
        ok(
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        ok(
            "docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        ok(
            "index.docker.io/busybox:x",
            "docker.io/library/busybox:x",
            "busybox:x",
        );
        ok("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest");
        ok(
            "foo/bar/baz:v1",
            "docker.io/foo/bar/baz:v1",
            "foo/bar/baz:v1",
        );
        ok("localhost/x", "localhost/x:latest", "localhost/x:latest");
        ok(
            "localhost:5000/x:1",
            "localhost:5000/x:1",
            "localhost:5000/x:1",
        );
        ok(
            "example.com/a/b:c",
            "example.com/a/b:c",
            "example.com/a/b:c",
        );
        ok(
            "Example.com/a",
            "Example.com/a:latest",
            "Example.com/a:latest",
        );
        ok(
            "127.0.0.1:5000/x",
            "127.0.0.1:5000/x:latest",
            "127.0.0.1:5000/x:latest",
        );
        ok("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest");
        ok(
            "a_b.c-d__e--f:T_a.g-1",
            "docker.io/library/a_b.c-d__e--f:T_a.g-1",
            "a_b.c-d__e--f:T_a.g-1",
        );
        ok("foo:5000", "docker.io/library/foo:5000", "foo:5000");
        ok(
            "docker.io/library/foo/bar",
            "docker.io/library/foo/bar:latest",
            "library/foo/bar:latest",
        );
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("busybox@sha256:{H}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), H);
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{H}")
        );
        assert_eq!(r.familiar(), format!("busybox@sha256:{H}"));
        let r = Reference::parse(&format!("localhost:5000/a/b:t@sha256:{H}")).unwrap();
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.repository(), "localhost:5000/a/b");
        assert_eq!(r.to_string(), format!("localhost:5000/a/b:t@sha256:{H}"));
    }

    #[test]
    fn accessors() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.repository(), "docker.io/library/busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.with_tag("1").unwrap().familiar(), "busybox:1");
        assert!(r.with_tag("-x").is_err());
        let n = Reference::parse_without_default_tag("busybox").unwrap();
        assert_eq!(n.tag(), None);
        assert_eq!(n.to_string(), "docker.io/library/busybox");
    }

    #[test]
    fn rejects() {
        let inv = "invalid reference format";
        err(
            "Foo",
            "invalid reference format: repository name (library/Foo) must be lowercase",
        );
        err(
            "foo/Bar",
            "invalid reference format: repository name (foo/Bar) must be lowercase",
        );
        err(
            "localhost:5000/Foo",
            "invalid reference format: repository name (Foo) must be lowercase",
        );
        err(
            H,
            &format!("invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
        );
        err("", "repository name must have at least one component");
        for s in [
            "busybox:",
            ":tag",
            "busybox::x",
            "busybox:-x",
            "busybox:.x",
            "/busybox",
            "busybox/",
            "a//b",
            "a..b",
            "a.-b",
            "-a",
            "a-",
            "a___b",
            "a b",
            "a:b:c",
            "busybox@",
            "busybox@sha256",
            "busybox@sha256:xyz",
            "localhost:/x",
            "localhost:abc/x",
            "-ex.com/x",
            "ex-.com/x",
            "[zz]/x",
            "a/b:t/c",
        ] {
            err(s, inv);
        }
        err(
            &format!("busybox@sha512:{H}"),
            "unsupported digest algorithm",
        );
        err(
            &format!("busybox@sha256:{H}00"),
            "invalid checksum digest length",
        );
        err(&format!("busybox:{}", "a".repeat(129)), inv);
        let long = format!("x/{}", "a".repeat(260));
        err(
            &long,
            "repository name must not be more than 255 characters",
        );
    }

    #[test]
    fn tags() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_a.b-C"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag(".a"));
    }
}
