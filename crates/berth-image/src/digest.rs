//! Content digests (`sha256:<64 hex>`).

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A sha256 content digest. Only sha256 is supported: it is what Docker,
/// containerd and every registry use for image ids, layers and configs, and a
/// single algorithm keeps the store layout (`blobs/sha256/<hex>`) simple.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; the daemon calls this on every
    /// digest that comes from a client or a file, so it validates strictly.
    pub fn parse(s: &str) -> Result<Digest> {
        let bad = |reason| Error::InvalidDigest {
            digest: s.to_string(),
            reason,
        };
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("missing algorithm"))?;
        if alg != "sha256" {
            return Err(bad("unsupported digest algorithm"));
        }
        Digest::from_hex(hex).map_err(|_| bad("expected 64 lowercase hex characters"))
    }

    /// Builds a digest from a bare 64-char hex string (as used in directory
    /// names and docker-archive paths).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest {
                hex: hex.to_string(),
            })
        } else {
            Err(Error::InvalidDigest {
                digest: hex.to_string(),
                reason: "expected 64 lowercase hex characters",
            })
        }
    }

    /// The digest of an in-memory byte string.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The 64 hex characters without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm name; always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 12-character short id that `docker images` and `docker ps` show.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// Chain id of a layer stack (OCI image spec): the first layer's chain id
    /// is its diff id, each next one `sha256(parent_chain + " " + diff_id)`.
    /// Layers are stored by chain id because a layer's meaning depends on
    /// what lies beneath it.
    pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
        match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of_bytes(format!("{p} {diff_id}").as_bytes()),
        }
    }

    /// Chain ids for every prefix of `diff_ids`, bottom layer first.
    pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
        for d in diff_ids {
            let c = Digest::chain_id(out.last(), d);
            out.push(c);
        }
        out
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256 with a byte count, for streams whose digest is only
/// known at the end.
#[derive(Default, Clone)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    /// Hashes `b` and counts it.
    pub fn update(&mut self, b: &[u8]) {
        self.sha.update(b);
        self.len += b.len() as u64;
    }
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// Whether nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The digest of everything hashed.
    pub fn finish(self) -> Digest {
        Digest {
            hex: hex::encode(self.sha.finalize()),
        }
    }
}

/// A reader that hashes everything read through it.
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::default(),
        }
    }
    /// Reads the stream to its end (so trailing tar padding counts too) and
    /// returns the digest and length of everything that passed through.
    pub(crate) fn drain_and_finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let len = self.hasher.len();
        Ok((self.hasher.finish(), len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub struct HashingWriter<W> {
    /// Where the bytes go.
    pub inner: W,
    /// What they hash to so far.
    pub hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_display() {
        let d = Digest::parse(&format!("sha256:{H}")).unwrap();
        assert_eq!(d.hex(), H);
        assert_eq!(d.to_string(), format!("sha256:{H}"));
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::of_bytes(b""), d);
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "sha256:",
            H,
            "sha512:abc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn chain_ids() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        let c = Digest::chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of_bytes(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn serde_roundtrip() {
        let d = Digest::of_bytes(b"x");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&j).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
