//! Detection of layer/archive compression by magic bytes. Media types lie
//! (docker-archive layers are often gzip under a `.tar` name), magic does not.

use std::io::{self, Cursor, Read};

/// Compression of a stream, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain, uncompressed data (a tar).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// bzip2 (`BZh`): recognized so the error can say so, not supported.
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`): recognized, not supported.
    Xz,
}

impl Compression {
    fn from_magic(b: &[u8]) -> Compression {
        if b.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if b.starts_with(b"BZh") {
            Compression::Bzip2
        } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else {
            Compression::None
        }
    }
}

/// Peeks at the first bytes of `r` and returns the detected compression and
/// a reader yielding the *decompressed* stream.
pub fn decompress<'a, R: Read + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        let k = r.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let kind = Compression::from_magic(&head[..n]);
    let whole = Cursor::new(head[..n].to_vec()).chain(r);
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Compression::Bzip2 | Compression::Xz => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported compression {kind:?}"),
            ))
        }
    };
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], c: Compression, enc: Vec<u8>) {
        let (k, mut r) = decompress(&enc[..]).unwrap();
        assert_eq!(k, c);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn detects() {
        let data = b"hello world, hello world".repeat(10);
        roundtrip(&data, Compression::None, data.clone());
        roundtrip(b"", Compression::None, Vec::new());
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(&data).unwrap();
        roundtrip(&data, Compression::Gzip, g.finish().unwrap());
        roundtrip(
            &data,
            Compression::Zstd,
            zstd::encode_all(&data[..], 1).unwrap(),
        );
        assert!(decompress(&b"BZh91AY"[..]).is_err());
    }
}
