//! Request and response plumbing shared by every handler.

use berth_api::ApiError;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use std::collections::HashMap;

/// Every response body: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;
pub type HandlerResult = Result<Resp, crate::DaemonError>;

/// A request after the version prefix is stripped and the query is decoded.
pub struct Req {
    pub method: Method,
    /// Path without `/vX.Y`, e.g. `/containers/abc/json`.
    pub path: String,
    /// Requested API version (prefix), or the advertised one.
    pub version: String,
    pub query: HashMap<String, String>,
    /// Every `key=value` pair in order, for repeated keys (`names=a&names=b`).
    pub query_all: Vec<(String, String)>,
    pub parts: hyper::http::request::Parts,
    body: Option<Incoming>,
}

impl Req {
    pub fn new(inner: Request<Incoming>) -> Req {
        let (parts, body) = inner.into_parts();
        let raw_path = parts.uri.path().to_string();
        let (ver, rest) = berth_api::version::strip_prefix(&raw_path);
        let version = ver.unwrap_or(berth_api::API_VERSION).to_string();
        let path = rest.to_string();
        let mut query = HashMap::new();
        let mut query_all = Vec::new();
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.insert(decode(k), decode(v));
                query_all.push((decode(k), decode(v)));
            }
        }
        Req {
            method: parts.method.clone(),
            path,
            version,
            query,
            query_all,
            parts,
            body: Some(body),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// A query string parameter, `None` when absent.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// Every value of a repeated query parameter.
    pub fn q_all(&self, key: &str) -> Vec<String> {
        self.query_all
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean query parameter as moby reads them: absent/""/0/false/no/none are false.
    pub fn qbool(&self, key: &str) -> bool {
        match self.q(key) {
            None => false,
            Some(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no" | "none"
            ),
        }
    }

    /// An integer query parameter; a malformed value is a 400.
    pub fn qint(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.q(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn body_bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let limited = http_body_util::Limited::new(body, limit);
        match limited.collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) => Err(ApiError::invalid(format!(
                "error reading request body: {e}"
            ))),
        }
    }

    /// Decodes a JSON body; an empty body decodes as `T::default()`.
    pub async fn json<T: serde::de::DeserializeOwned + Default>(&mut self) -> Result<T, ApiError> {
        let bytes = self.body_bytes(16 << 20).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(json_error_text(&e)))
    }

    /// Takes the body as a stream (tar imports); `None` if already taken.
    pub fn take_body(&mut self) -> Option<Incoming> {
        self.body.take()
    }

    /// Takes the body as a blocking reader, for use inside `spawn_blocking`.
    pub fn body_reader(&mut self) -> impl std::io::Read + Send + 'static {
        // A task pumps the body's frames into a small queue; the blocking reader takes
        // whole frames from it. (A `SyncIoBridge` entered the runtime once per read; this
        // costs one queue hand-off per frame and keeps up with a local disk.)
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(32);
        if let Some(mut body) = self.body.take() {
            tokio::spawn(async move {
                while let Some(frame) = body.frame().await {
                    let item = match frame {
                        Ok(f) => match f.into_data() {
                            Ok(d) if !d.is_empty() => Ok(d),
                            _ => continue,
                        },
                        Err(e) => Err(std::io::Error::other(e)),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        return;
                    }
                }
            });
        }
        FrameReader {
            rx,
            cur: Bytes::new(),
        }
    }

    /// Whether the client asked to hijack the connection (`Upgrade: tcp`).
    pub fn wants_upgrade(&self) -> bool {
        self.headers()
            .get(hyper::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.eq_ignore_ascii_case("tcp"))
            .unwrap_or(false)
    }

    /// The pending upgrade of this connection, to be awaited after a 101 is returned.
    pub fn take_upgrade(&mut self) -> Option<hyper::upgrade::OnUpgrade> {
        self.parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
    }
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    urlencoding::decode(&s).map(|c| c.into_owned()).unwrap_or(s)
}

fn json_error_text(e: &serde_json::Error) -> String {
    // moby: "invalid JSON: ..." for syntax errors, the decoder's text otherwise.
    if e.is_syntax() || e.is_eof() {
        format!("invalid JSON: {e}")
    } else {
        format!("json: cannot unmarshal: {e}")
    }
}

fn add_std_headers(resp: &mut Resp) {
    let h = resp.headers_mut();
    h.insert(
        "Api-Version",
        HeaderValue::from_static(berth_api::API_VERSION),
    );
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A response with the headers every Engine API answer carries.
pub fn response(status: StatusCode, content_type: Option<&'static str>, body: Body) -> Resp {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    add_std_headers(&mut resp);
    resp
}

pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Resp {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    response(status, Some("application/json"), full(bytes))
}

pub fn no_content() -> Resp {
    response(StatusCode::NO_CONTENT, None, empty())
}

pub fn error_response(e: &ApiError) -> Resp {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NOT_MODIFIED {
        return response(status, None, empty());
    }
    json(
        status,
        &berth_api::ErrorResponse {
            message: e.message.clone(),
        },
    )
}

/// A streamed body fed by a channel; the stream ends when every sender is dropped.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    StreamBody::new(stream).boxed()
}

/// A streamed response: the head is sent at once, the body as `rx` yields.
pub fn streaming(content_type: &'static str, rx: tokio::sync::mpsc::Receiver<Bytes>) -> Resp {
    response(StatusCode::OK, Some(content_type), channel_body(rx))
}

/// Blocking reader over body frames queued by a task (see `Req::body_reader`).
struct FrameReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl std::io::Read for FrameReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}
