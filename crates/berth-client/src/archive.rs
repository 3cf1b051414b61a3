//! `docker cp`, `commit` and `diff`: `HEAD|GET|PUT /containers/{id}/archive`,
//! `POST /commit`, `GET /containers/{id}/changes`.

use crate::{empty, query, seg, Body, BodyStream, Client, Error, Result};
use hyper::Method;

/// `X-Docker-Container-Path-Stat`, decoded.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PathStat {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: i64,
    /// Go `os.FileMode` bits.
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub mtime: String,
    #[serde(default, rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & (1 << 27) != 0
    }
    /// A device (`os.ModeDevice`).
    pub fn is_device(&self) -> bool {
        self.mode & (1 << 26) != 0
    }
    /// `os.ModeIrregular`.
    pub fn is_irregular(&self) -> bool {
        self.mode & (1 << 19) != 0
    }
}

fn decode_stat(v: Option<&hyper::header::HeaderValue>) -> Result<PathStat> {
    let v = v.ok_or_else(|| Error::Decode("missing X-Docker-Container-Path-Stat".into()))?;
    let raw = base64_decode(v.as_bytes())
        .ok_or_else(|| Error::Decode("bad X-Docker-Container-Path-Stat".into()))?;
    serde_json::from_slice(&raw).map_err(|e| Error::Decode(e.to_string()))
}

/// Standard base64 (with or without padding).
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s: Vec<u8> = s.iter().copied().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        match chunk.len() {
            4 => out.extend_from_slice(&bytes),
            3 => out.extend_from_slice(&bytes[..2]),
            2 => out.push(bytes[0]),
            _ => return None,
        }
    }
    Some(out)
}

/// One entry of `docker diff`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    pub changes: Vec<String>,
}

impl Client {
    fn archive_path(id: &str, path: &str) -> String {
        format!(
            "/containers/{}/archive{}",
            seg(id),
            query(&[("path", Some(path.to_string()))])
        )
    }

    /// `HEAD /containers/{id}/archive?path=`
    pub async fn stat_container_path(&self, id: &str, path: &str) -> Result<PathStat> {
        let resp = self
            .request(Method::HEAD, &Self::archive_path(id, path), empty(), &[])
            .await?;
        decode_stat(resp.headers().get("X-Docker-Container-Path-Stat"))
    }

    /// `GET /containers/{id}/archive?path=`: the stat header and the tar stream.
    pub async fn get_archive(&self, id: &str, path: &str) -> Result<(PathStat, BodyStream)> {
        let resp = self
            .request(Method::GET, &Self::archive_path(id, path), empty(), &[])
            .await?;
        let st = decode_stat(resp.headers().get("X-Docker-Container-Path-Stat"))?;
        Ok((st, BodyStream::new(resp)))
    }

    /// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`
    pub async fn put_archive(
        &self,
        id: &str,
        path: &str,
        body: Body,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let q = query(&[
            ("path", Some(path.to_string())),
            (
                "noOverwriteDirNonDir",
                Some(no_overwrite_dir_non_dir.to_string()),
            ),
            ("copyUIDGID", Some(copy_uid_gid.to_string())),
        ]);
        let resp = self
            .request(
                Method::PUT,
                &format!("/containers/{}/archive{q}", seg(id)),
                body,
                &[("Content-Type", "application/x-tar")],
            )
            .await?;
        let mut s = BodyStream::new(resp);
        while s.chunk().await?.is_some() {}
        Ok(())
    }

    /// `GET /containers/{id}/changes`
    pub async fn container_changes(&self, id: &str) -> Result<Vec<Change>> {
        let v: Option<Vec<Change>> = self
            .get_json(&format!("/containers/{}/changes", seg(id)))
            .await?;
        Ok(v.unwrap_or_default())
    }

    /// `POST /commit`: returns the new image's ID.
    pub async fn commit_container(&self, id: &str, o: &CommitOptions) -> Result<String> {
        let mut pairs = vec![
            ("container", Some(id.to_string())),
            ("repo", o.repo.clone()),
            ("tag", o.tag.clone()),
            ("comment", o.comment.clone()),
            ("author", o.author.clone()),
            ("pause", Some(o.pause.to_string())),
        ];
        for c in &o.changes {
            pairs.push(("changes", Some(c.clone())));
        }
        let v: serde_json::Value = self
            .post_json(
                &format!("/commit{}", query(&pairs)),
                &serde_json::Value::Null,
            )
            .await?;
        Ok(v.get("Id")
            .and_then(|i| i.as_str())
            .unwrap_or_default()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_base64() {
        assert_eq!(
            super::base64_decode(b"eyJhIjoxfQ==").unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(super::base64_decode(b"YWI").unwrap(), b"ab");
    }
}
