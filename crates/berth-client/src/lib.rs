//! berth-client: a Docker Engine API client over a unix socket (or plain tcp).
//!
//! Every berth client (the CLI, compose, tests) speaks HTTP to the daemon through this
//! crate; there is no private API. Requests go to the versioned path (`/v1.50/...`),
//! answers decode into `berth_api` types, and API failures come back as
//! [`Error::Api`] carrying the status class and Docker's message so callers can
//! branch like the docker CLI does (pull on 404, inspect fallback on 404...).

mod archive;
mod containers;
pub mod host;
mod images;
pub mod networks;
mod stream;
mod system;
mod volumes;

use berth_api::{ApiError, ErrorKind};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

pub use archive::{Change, CommitOptions, PathStat};
pub use bytes::Bytes;
pub use containers::{AttachOptions, ListContainersOptions, LogsOptions, PendingWait};
pub use host::{Host, DEFAULT_HOST};
pub use images::ListImagesOptions;
pub use stream::{BodyStream, Hijacked};

/// A request body: buffered or streamed (archives for load/import).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Failures of a client call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon socket could not be reached; the CLI prints its "Is the daemon running?" text.
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running? (start it with: berth daemon &)")]
    Connect {
        host: String,
        source: std::io::Error,
    },
    /// The daemon answered with an error status.
    #[error("{0}")]
    Api(ApiError),
    /// HTTP-level failure after connecting (broken connection, bad upgrade...).
    #[error("{0}")]
    Http(String),
    /// The answer was not the JSON we expected.
    #[error("error decoding response: {0}")]
    Decode(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The API error class, when the daemon answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Api(e) => Some(e.kind),
            _ => None,
        }
    }
    /// True for a 404 from the daemon.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }
    /// True when the daemon could not be reached at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A handle on one daemon. Cheap to clone; each request opens its own connection
/// (as the docker CLI effectively does on a unix socket), which keeps hijacked
/// streams and long polls independent of each other.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    version: String,
}

/// Builds a query string from pairs, skipping `None` values; keys and values are encoded.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{}={}", k, urlencoding::encode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Escapes a name for use in a path the way Go's `url.URL{Path: p}.String()` does for
/// the docker client: `/` and `:` stay as they are (the daemon routes
/// `/images/library/busybox:latest/json` by pattern), only characters that would
/// break the request line or the query are encoded.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'%' | b' ' | b'?' | b'#' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|'
            | b'}' => out.push_str(&format!("%{b:02X}")),
            0..=0x20 | 0x7f..=0xff => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

/// A buffered body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

impl Client {
    /// A client for `host`, speaking API [`berth_api::API_VERSION`].
    pub fn new(host: Host) -> Client {
        Client {
            host,
            version: berth_api::API_VERSION.to_string(),
        }
    }

    /// A client for the host chosen by `-H`, `BERTH_HOST`, `DOCKER_HOST` or the default.
    pub fn from_env(flag: Option<&str>) -> Result<Client, String> {
        Ok(Client::new(host::resolve(flag)?))
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version used in request paths.
    pub fn api_version(&self) -> &str {
        &self.version
    }

    async fn connect(&self) -> Result<Box<dyn Io>> {
        let err = |source| Error::Connect {
            host: self.host.url(),
            source,
        };
        match &self.host {
            Host::Unix(p) => Ok(Box::new(
                tokio::net::UnixStream::connect(p).await.map_err(err)?,
            )),
            Host::Tcp(a) => Ok(Box::new(
                tokio::net::TcpStream::connect(a).await.map_err(err)?,
            )),
        }
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
        versioned: bool,
    ) -> Result<Request<Body>> {
        let uri = if versioned {
            format!("/v{}{}", self.version, path)
        } else {
            path.to_string()
        };
        let host_header = match &self.host {
            Host::Tcp(a) => a.clone(),
            Host::Unix(_) => "api.moby.localhost".to_string(),
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", host_header)
            .header(
                "User-Agent",
                format!("berth/{}", berth_api::version::BERTH_VERSION),
            );
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body).map_err(|e| Error::Http(e.to_string()))
    }

    async fn send_raw(
        &self,
        req: Request<Body>,
        upgrades: bool,
    ) -> Result<Response<hyper::body::Incoming>> {
        let io = TokioIo::new(self.connect().await?);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        if upgrades {
            tokio::spawn(async move {
                let _ = conn.with_upgrades().await;
            });
        } else {
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        sender
            .send_request(req)
            .await
            .map_err(|e| Error::Http(format!("error during connect: {e}")))
    }

    /// Sends a request on the versioned path; an error status becomes [`Error::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response<hyper::body::Incoming>> {
        let req = self.build(method, path, body, headers, true)?;
        let resp = self.send_raw(req, false).await?;
        check(resp).await
    }

    /// Sends a request with no version prefix (`/_ping`, `/version` negotiation).
    pub async fn request_unversioned(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Response<hyper::body::Incoming>> {
        let req = self.build(method, path, empty(), &[], false)?;
        let resp = self.send_raw(req, false).await?;
        check(resp).await
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        decode(resp).await
    }

    /// GET and return the raw JSON value (inspect keeps unknown fields this way).
    pub async fn get_value(&self, path: &str) -> Result<serde_json::Value> {
        self.get_json(path).await
    }

    /// GET and return the answer's raw bytes (inspect output keeps the daemon's key order).
    pub async fn get_raw(&self, path: &str) -> Result<Bytes> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Http(e.to_string()))?
            .to_bytes())
    }

    /// POST a JSON body and decode the JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let data = serde_json::to_vec(body).map_err(|e| Error::Decode(e.to_string()))?;
        let resp = self
            .request(
                Method::POST,
                path,
                full(data),
                &[("Content-Type", "application/json")],
            )
            .await?;
        decode(resp).await
    }

    /// POST with an empty body, discarding the answer body (start, stop, kill...).
    pub async fn post_empty(&self, path: &str) -> Result<StatusCode> {
        let resp = self.request(Method::POST, path, empty(), &[]).await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// POST with a JSON body, discarding the answer.
    pub async fn post_json_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<StatusCode> {
        let data = serde_json::to_vec(body).map_err(|e| Error::Decode(e.to_string()))?;
        let resp = self
            .request(
                Method::POST,
                path,
                full(data),
                &[("Content-Type", "application/json")],
            )
            .await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// DELETE, decoding a JSON answer (or `Value::Null` for an empty body).
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.request(Method::DELETE, path, empty(), &[]).await?;
        decode(resp).await
    }

    /// DELETE, discarding the answer.
    pub async fn delete(&self, path: &str) -> Result<()> {
        let resp = self.request(Method::DELETE, path, empty(), &[]).await?;
        let _ = resp.into_body().collect().await;
        Ok(())
    }

    /// Any request whose answer is consumed as a stream (logs, events, stats, progress,
    /// archives). The status is checked before the stream is handed out.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<BodyStream> {
        let resp = self.request(method, path, body, headers).await?;
        Ok(BodyStream::new(resp))
    }

    /// A hijacked request: sends `Connection: Upgrade` / `Upgrade: tcp`, expects
    /// `101 Switching Protocols` and returns the raw duplex stream. Used by attach and
    /// exec start. A 200 answer is tolerated (old daemons) by returning its body as the
    /// read side with no write side.
    pub async fn hijack(&self, path: &str, json_body: Option<Vec<u8>>) -> Result<Hijacked> {
        let (body, ct) = match json_body {
            Some(b) => (full(b), Some("application/json")),
            None => (empty(), None),
        };
        let mut headers = vec![("Connection", "Upgrade"), ("Upgrade", "tcp")];
        if let Some(ct) = ct {
            headers.push(("Content-Type", ct));
        }
        let req = self.build(Method::POST, path, body, &headers, true)?;
        let resp = self.send_raw(req, true).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let multiplexed = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.contains("multiplexed"));
            let up = hyper::upgrade::on(resp)
                .await
                .map_err(|e| Error::Http(format!("upgrade failed: {e}")))?;
            return Ok(Hijacked::upgraded(up, multiplexed));
        }
        let resp = check(resp).await?;
        Ok(Hijacked::plain(BodyStream::new(resp)))
    }
}

/// Turns an error status into [`Error::Api`] with the message from the JSON body
/// (or the raw body text, or the status reason when there is no body).
async fn check(resp: Response<hyper::body::Incoming>) -> Result<Response<hyper::body::Incoming>> {
    let status = resp.status();
    if status.as_u16() < 400 {
        return Ok(resp);
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Err(Error::Api(ApiError::new(
        ErrorKind::from_status(status.as_u16()),
        error_message(status, &body),
    )))
}

/// Docker's rule for the message of an error answer.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        text
    }
}

async fn decode<T: DeserializeOwned>(resp: Response<hyper::body::Incoming>) -> Result<T> {
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Http(e.to_string()))?
        .to_bytes();
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &body
    };
    serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))
}

/// A streamed request body read from `r` in 64 KiB chunks (archives for load/import,
/// which may be larger than memory).
pub fn body_from_reader<R: AsyncRead + Send + Unpin + 'static>(r: R) -> Body {
    use tokio::io::AsyncReadExt;
    let s = futures_util::stream::unfold(r, |mut r| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(hyper::body::Frame::data(Bytes::from(buf))), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    http_body_util::StreamBody::new(s).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[
                ("a", Some("x y".into())),
                ("b", None),
                ("c", Some("1".into()))
            ]),
            "?a=x%20y&c=1"
        );
        assert_eq!(seg("a/b:c"), "a/b:c");
        assert_eq!(seg("a b?#%"), "a%20b%3F%23%25");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(
                StatusCode::NOT_FOUND,
                br#"{"message":"No such container: x"}"#
            ),
            "No such container: x"
        );
        assert_eq!(error_message(StatusCode::BAD_REQUEST, b"plain\n"), "plain");
        assert_eq!(error_message(StatusCode::NOT_FOUND, b""), "404 Not Found");
    }

    #[tokio::test]
    async fn connect_error_is_distinct() {
        let c = Client::new(Host::Unix("/nonexistent/berth.sock".into()));
        let e = c.get_value("/info").await.unwrap_err();
        assert!(e.is_connect());
        assert!(e
            .to_string()
            .starts_with("Cannot connect to the berth daemon at unix:///nonexistent/berth.sock."));
    }
}
