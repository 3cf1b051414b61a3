//! One registry, one repository: endpoint choice, authentication, and the requests a pull
//! makes.

use crate::auth::{Challenge, Credentials, TokenResponse};
use crate::error::{describe, Error, Result};
use futures_util::StreamExt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Where Docker Hub's registry API lives (`docker.io` is its name in references).
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Where dockerd and berth look for a registry's TLS material (`<dir>/<host[:port]>/`).
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/berth/certs.d", "/etc/docker/certs.d"];

/// The daemon's registry settings (daemon.json `insecure-registries`, `registry-mirrors`).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]`) and CIDRs that may be reached over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// Docker Hub mirrors (`https://mirror.example` or `http://…`), tried in order before
    /// Docker Hub itself for pulls of `docker.io` images.
    pub mirrors: Vec<String>,
    /// Directories holding `<host[:port]>/` folders of `*.crt` CAs (added to the system's
    /// roots) and `*.cert`/`*.key` client certificate pairs, as dockerd's `certs.d`.
    pub certs_dirs: Vec<std::path::PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            certs_dirs: DEFAULT_CERTS_DIRS.iter().map(Into::into).collect(),
        }
    }
}

/// Checks a `registry-mirrors` entry as dockerd does; returns it without a trailing `/`.
pub fn validate_mirror(mirror: &str) -> std::result::Result<String, String> {
    let m = mirror.trim();
    let Some((scheme, rest)) = m.split_once("://") else {
        return Err(format!(
            "invalid mirror: unsupported scheme \"\" in \"{mirror}\""
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "invalid mirror: unsupported scheme \"{scheme}\" in \"{mirror}\""
        ));
    }
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#']) {
        return Err(format!(
            "invalid mirror: path, query, or fragment at end of the URI \"{mirror}\""
        ));
    }
    Ok(format!("{scheme}://{host}"))
}

impl RegistryConfig {
    /// The schemes to try for `host`, in order: HTTPS, then plain HTTP for insecure hosts.
    pub(crate) fn schemes(&self, host: &str) -> Vec<&'static str> {
        if self.is_insecure(host) {
            vec!["https", "http"]
        } else {
            vec!["https"]
        }
    }

    /// The TLS material for `host` (`name[:port]`) from the certs directories: extra CA
    /// certificates and a client identity (certificate and key in one PEM).
    fn tls_for(
        &self,
        host: &str,
    ) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>)> {
        let mut cas = Vec::new();
        let mut identity = None;
        for dir in &self.certs_dirs {
            let dir = dir.join(host);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            let read = |name: &str| {
                std::fs::read(dir.join(name)).map_err(|e| {
                    Error::Transport(format!("read {}: {e}", dir.join(name).display()))
                })
            };
            for name in &names {
                if name.ends_with(".crt") {
                    let pem = read(name)?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        Error::Transport(format!("{}: {e}", dir.join(name).display()))
                    })?;
                    cas.extend(certs);
                } else if let Some(stem) = name.strip_suffix(".cert") {
                    let key = format!("{stem}.key");
                    if !names.contains(&key) {
                        return Err(Error::Transport(format!(
                            "missing key {key} for client certificate {name}. CA certificates must use the extension .crt"
                        )));
                    }
                    let mut pem = read(name)?;
                    pem.push(b'\n');
                    pem.extend(read(&key)?);
                    identity = Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                        Error::Transport(format!("{}: {e}", dir.join(name).display()))
                    })?);
                } else if let Some(stem) = name.strip_suffix(".key") {
                    if !names.contains(&format!("{stem}.cert")) {
                        return Err(Error::Transport(format!(
                            "missing client certificate {stem}.cert for key {name}"
                        )));
                    }
                }
            }
        }
        Ok((cas, identity))
    }

    /// An HTTP client for `host`: its certs.d material, and no certificate check for
    /// insecure hosts.
    pub(crate) fn http_client(&self, host: &str) -> Result<reqwest::Client> {
        let (cas, identity) = self.tls_for(host)?;
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(self.is_insecure(host));
        for ca in cas {
            b = b.add_root_certificate(ca);
        }
        if let Some(id) = identity {
            b = b.identity(id);
        }
        b.build()
            .map_err(|e| Error::Transport(format!("http client: {e}")))
    }

    /// Whether `host` (`name[:port]`) may be used without verified TLS: loopback always (as
    /// dockerd), then the configured hosts and CIDRs.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = strip_port(host);
        let ip = name.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if name == "localhost" || ip.is_some_and(|a| a.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            if entry == host || entry == name {
                return true;
            }
            match (entry.split_once('/'), ip) {
                (Some((net, bits)), Some(a)) => in_cidr(a, net, bits),
                _ => false,
            }
        })
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn in_cidr(a: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A registry session for one repository: the endpoint found by the ping, the challenge
/// it made, and the token for the repository's scope.
pub struct Registry {
    http: reqwest::Client,
    /// `https://host` or `http://host`.
    base: String,
    /// The repository path (`library/busybox`).
    repo: String,
    /// The familiar name for error texts (`busybox`, `127.0.0.1:5000/x`).
    name: String,
    creds: Credentials,
    challenge: Option<Challenge>,
    token: Option<(String, Instant)>,
    /// Token scopes: `repository:<repo>:pull` for pulls; a push adds `push` and the
    /// repositories it may mount blobs from.
    scopes: Vec<String>,
}

impl Registry {
    /// Pings the registry of `domain` (`docker.io`, `host:port`) and gets ready to serve
    /// `repo`: HTTPS first; plain HTTP (or unverified TLS) only for insecure hosts.
    pub async fn connect(
        config: &RegistryConfig,
        domain: &str,
        repo: &str,
        name: &str,
        creds: Credentials,
    ) -> Result<Registry> {
        let host = if domain == berth_image::reference::DEFAULT_DOMAIN {
            DOCKER_HUB_HOST
        } else {
            domain
        };
        Self::open(config, host, &config.schemes(host), repo, name, creds).await
    }

    /// Like [`Registry::connect`], at a `registry-mirrors` URL (`http://host[:port]`).
    pub async fn connect_mirror(
        config: &RegistryConfig,
        mirror: &str,
        repo: &str,
        name: &str,
        creds: Credentials,
    ) -> Result<Registry> {
        let (scheme, host) = mirror
            .trim_end_matches('/')
            .split_once("://")
            .ok_or_else(|| Error::Transport(format!("invalid mirror {mirror}")))?;
        Self::open(config, host, &[scheme], repo, name, creds).await
    }

    /// Pings `host` over the first of `schemes` that answers.
    async fn open(
        config: &RegistryConfig,
        host: &str,
        schemes: &[&str],
        repo: &str,
        name: &str,
        creds: Credentials,
    ) -> Result<Registry> {
        let http = config.http_client(host)?;
        let mut reg = Registry {
            http,
            base: String::new(),
            repo: repo.to_string(),
            name: name.to_string(),
            scopes: vec![format!("repository:{repo}:pull")],
            creds,
            challenge: None,
            token: None,
        };
        let mut last = None;
        let mut ping = None;
        for scheme in schemes {
            reg.base = format!("{scheme}://{host}");
            match reg.http.get(format!("{}/v2/", reg.base)).send().await {
                Ok(r) => {
                    ping = Some(r);
                    break;
                }
                Err(e) => {
                    tracing::debug!("{host}: {scheme} failed ({e})");
                    last = Some(Error::Transport(transport_text(
                        &format!("{}/v2/", reg.base),
                        &e,
                    )));
                }
            }
        }
        let Some(ping) = ping else {
            return Err(last.unwrap_or_else(|| Error::Transport(format!("{host}: no endpoint"))));
        };
        if ping.status() == reqwest::StatusCode::UNAUTHORIZED {
            reg.challenge = ping
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
        }
        Ok(reg)
    }

    /// The repository's URL prefix.
    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repo)
    }

    async fn authorization(&mut self) -> Result<Option<String>> {
        match self.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.has_password().then(|| self.creds.basic())),
            Some(Challenge::Bearer { realm, service }) => {
                if let Some((t, until)) = &self.token {
                    if Instant::now() < *until {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let (token, ttl) = self.fetch_token(&realm, &service).await?;
                let until =
                    Instant::now() + Duration::from_secs(ttl.max(60)) - Duration::from_secs(10);
                self.token = Some((token.clone(), until));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// A token for `repository:<repo>:pull` from the challenge's realm: a form POST with an
    /// identity token (OAuth2 refresh), else a GET with Basic credentials when there are
    /// some, anonymous otherwise — moby's order.
    async fn fetch_token(&self, realm: &str, service: &str) -> Result<(String, u64)> {
        let scope = self.scopes.join(" ");
        self.token_request(realm, service, Some(&scope))
            .await
            .map(|t| (t.token, t.expires_in))
    }

    /// Asks for push rights on the repository, and pull rights on `mount_from` (the
    /// repositories blobs may be mounted from); the next request gets a new token.
    pub fn want_push(&mut self, mount_from: &[String]) {
        self.scopes = vec![format!("repository:{}:pull,push", self.repo)];
        self.scopes
            .extend(mount_from.iter().map(|r| format!("repository:{r}:pull")));
        self.token = None;
    }

    async fn token_request(
        &self,
        realm: &str,
        service: &str,
        scope: Option<&str>,
    ) -> Result<IssuedToken> {
        let scope = scope.unwrap_or("");
        let resp = if !self.creds.identity_token.is_empty() {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", self.creds.identity_token.as_str()),
                ("service", service),
                ("scope", scope),
                ("client_id", "docker"),
            ];
            let body = form
                .iter()
                .map(|(k, v)| format!("{k}={}", form_escape(v)))
                .collect::<Vec<_>>()
                .join("&");
            self.http
                .post(realm)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
        } else {
            let mut query = vec![("service", service)];
            if scope.is_empty() {
                // A login: ask for a refresh token to keep as the identity token.
                query.extend([("client_id", "docker"), ("offline_token", "true")]);
            } else {
                query.extend(scope.split(' ').map(|s| ("scope", s)));
            }
            if self.creds.has_password() {
                query.insert(0, ("account", self.creds.username.as_str()));
            }
            let mut req = self.http.get(realm).query(&query);
            if self.creds.has_password() {
                req = req.header(reqwest::header::AUTHORIZATION, self.creds.basic());
            }
            req.send().await
        }
        .map_err(|e| Error::Transport(transport_text(realm, &e)))?;
        let status = resp.status();
        let body = read_limited(resp, 1 << 20).await?;
        if !status.is_success() {
            let (_, text) = describe(status.as_u16(), &body);
            return Err(if scope.is_empty() {
                Error::Unauthorized(format!("Get \"{realm}\": {text}"))
            } else {
                self.denied(text)
            });
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Error::Registry(format!("token server: invalid answer: {e}")))?;
        let token = if t.access_token.is_empty() {
            t.token
        } else {
            t.access_token
        };
        if token.is_empty() {
            return Err(Error::Registry(
                "authorization server did not include a token in the response".into(),
            ));
        }
        Ok(IssuedToken {
            token,
            expires_in: if t.expires_in == 0 { 60 } else { t.expires_in },
            refresh_token: t.refresh_token,
        })
    }

    /// `docker login`: checks the credentials against the registry the way dockerd does
    /// (a token request without scope asking for an offline token, or the `/v2/` ping
    /// with Basic credentials). Returns the identity token the registry issued, if any.
    pub async fn login(
        config: &RegistryConfig,
        server: &str,
        creds: Credentials,
    ) -> Result<Option<String>> {
        let domain = login_domain(server);
        let reg = Registry::connect(config, &domain, "", &domain, creds).await?;
        match reg.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Bearer { realm, service }) => {
                let t = reg.token_request(&realm, &service, None).await?;
                Ok(Some(t.refresh_token).filter(|t| !t.is_empty()))
            }
            Some(Challenge::Basic) => {
                let url = format!("{}/v2/", reg.base);
                let resp = reg
                    .http
                    .get(&url)
                    .header(reqwest::header::AUTHORIZATION, reg.creds.basic())
                    .send()
                    .await
                    .map_err(|e| Error::Transport(transport_text(&url, &e)))?;
                if resp.status().is_success() {
                    return Ok(None);
                }
                let status = resp.status().as_u16();
                let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
                let (_, text) = describe(status, &body);
                Err(Error::Unauthorized(format!("Get \"{url}\": {text}")))
            }
        }
    }

    fn denied(&self, reason: String) -> Error {
        Error::AccessDenied {
            name: self.name.clone(),
            reason,
        }
    }

    /// GET with authentication (see [`Registry::send`]).
    async fn get(&mut self, url: &str, accept: &[&str]) -> Result<reqwest::Response> {
        self.send(reqwest::Method::GET, url, accept, None).await
    }

    /// Fetches a manifest by tag or digest: `(body, content type, digest of the body)`. A
    /// fetch by digest is verified; the body is capped at [`crate::manifest::MAX_MANIFEST_BYTES`].
    pub async fn manifest(
        &mut self,
        reference: &str,
        shown: &str,
    ) -> Result<(Vec<u8>, String, berth_image::Digest)> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.get(&url, &crate::manifest::ACCEPT).await?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = read_limited(resp, crate::manifest::MAX_MANIFEST_BYTES).await?;
        if !status.is_success() {
            return Err(self.classify(status.as_u16(), &body, shown));
        }
        let digest = berth_image::Digest::of_bytes(&body);
        if let Ok(want) = berth_image::Digest::parse(reference) {
            if want != digest {
                return Err(Error::BadContent(format!(
                    "manifest verification failed for digest {want}"
                )));
            }
        }
        Ok((body, content_type, digest))
    }

    /// Maps a failed manifest fetch to moby's error.
    fn classify(&self, status: u16, body: &[u8], shown: &str) -> Error {
        let (code, text) = describe(status, body);
        match code.as_deref() {
            Some("MANIFEST_UNKNOWN") => Error::ManifestUnknown {
                reference: shown.to_string(),
                reason: text,
            },
            Some("NAME_UNKNOWN" | "UNAUTHORIZED" | "DENIED") => self.denied(text),
            _ if status == 401 || status == 403 => self.denied(text),
            _ if status == 404 => Error::ManifestUnknown {
                reference: shown.to_string(),
                reason: text,
            },
            _ => Error::Registry(format!("error from registry: {text}")),
        }
    }

    /// Sends a request with authentication; one retry after a 401 that carries a new
    /// challenge (a token that expired, or a scope the registry wants named).
    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        accept: &[&str],
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), url);
            for a in accept {
                req = req.header(reqwest::header::ACCEPT, *a);
            }
            if let Some((b, ct)) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, *ct)
                    .body(b.clone());
            } else if method != reqwest::Method::HEAD && method != reqwest::Method::GET {
                req = req.header(reqwest::header::CONTENT_LENGTH, "0");
            }
            if let Some(auth) = self.authorization().await? {
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Error::Transport(transport_text(url, &e)))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                let fresh = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse);
                if fresh.is_some() && (fresh != self.challenge || self.token.is_some()) {
                    self.challenge = fresh;
                    self.token = None;
                    continue;
                }
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn push_error(&self, resp: reqwest::Response) -> Error {
        push_error(resp).await
    }
}

/// An error of a push request, as moby words registry errors.
async fn push_error(resp: reqwest::Response) -> Error {
    {
        let status = resp.status().as_u16();
        let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
        let (code, text) = describe(status, &body);
        match code.as_deref() {
            Some("UNAUTHORIZED" | "DENIED") => Error::Registry(text),
            _ if status == 401 || status == 403 => Error::Registry(text),
            _ => Error::Registry(format!("error from registry: {text}")),
        }
    }
}

impl Registry {
    /// Whether the repository has the blob already (`HEAD`).
    pub async fn has_blob(&mut self, digest: &berth_image::Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(reqwest::Method::HEAD, &url, &[], None).await?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.push_error(resp).await),
        }
    }

    /// Tries to mount `digest` from repository `from` of the same registry: `Ok(None)`
    /// when mounted, else the upload session the registry opened instead.
    pub async fn mount_blob(
        &mut self,
        digest: &berth_image::Digest,
        from: &str,
    ) -> Result<Option<Opened>> {
        let url = self.url(&format!(
            "blobs/uploads/?mount={digest}&from={}",
            form_escape(from)
        ));
        let resp = self.send(reqwest::Method::POST, &url, &[], None).await?;
        match resp.status().as_u16() {
            201 => Ok(None),
            202 => Ok(Some(self.opened(&resp)?)),
            _ => Err(self.push_error(resp).await),
        }
    }

    /// Opens an upload session.
    pub async fn start_upload(&mut self) -> Result<Opened> {
        let url = self.url("blobs/uploads/");
        let resp = self.send(reqwest::Method::POST, &url, &[], None).await?;
        if resp.status().as_u16() != 202 {
            return Err(self.push_error(resp).await);
        }
        self.opened(&resp)
    }

    /// The session an upload answer opened: its URL and chunk size hint.
    fn opened(&self, resp: &reqwest::Response) -> Result<Opened> {
        Ok(Opened {
            location: self.location(resp)?,
            chunk_min: resp
                .headers()
                .get("OCI-Chunk-Min-Length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0),
        })
    }

    fn location(&self, resp: &reqwest::Response) -> Result<String> {
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry("upload answered without a Location".into()))?;
        Ok(absolute_url(&self.base, loc))
    }

    /// Gets an open upload session ready to be sent without holding this session: the
    /// HTTP client and the current authorization travel with it.
    pub async fn upload(&mut self, opened: Opened) -> Result<Upload> {
        Ok(Upload {
            http: self.http.clone(),
            auth: self.authorization().await?,
            base: self.base.clone(),
            opened,
        })
    }

    /// Uploads a small blob (the config) from memory: `POST`, then one `PUT` (or a `PATCH`
    /// and the closing `PUT` where the registry takes chunks).
    pub async fn put_small_blob(
        &mut self,
        digest: &berth_image::Digest,
        bytes: Vec<u8>,
    ) -> Result<()> {
        if self.has_blob(digest).await? {
            return Ok(());
        }
        let opened = self.start_upload().await?;
        self.upload(opened).await?.put_bytes(digest, &bytes).await
    }

    /// Puts a manifest under `tag`; returns the digest the registry gives it.
    pub async fn put_manifest(
        &mut self,
        tag: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<berth_image::Digest> {
        let url = self.url(&format!("manifests/{tag}"));
        let digest = berth_image::Digest::of_bytes(&bytes);
        let resp = self
            .send(reqwest::Method::PUT, &url, &[], Some((bytes, media_type)))
            .await?;
        if !resp.status().is_success() {
            return Err(self.push_error(resp).await);
        }
        Ok(digest)
    }

    /// The repository's tags (`GET /v2/<repo>/tags/list`, following `Link: <…>; rel="next"`
    /// pages), sorted; at most 10 000.
    pub async fn tags(&mut self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list");
        let mut out = Vec::new();
        for _ in 0..100 {
            let resp = self.get(&url, &["application/json"]).await?;
            let status = resp.status().as_u16();
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|u| {
                    u.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let body = read_limited(resp, 4 << 20).await?;
            if status != 200 {
                let (code, text) = describe(status, &body);
                return Err(match code.as_deref() {
                    Some("NAME_UNKNOWN") => Error::ManifestUnknown {
                        reference: self.name.clone(),
                        reason: text,
                    },
                    _ => self.classify(status, &body, &self.name),
                });
            }
            let list: TagList = serde_json::from_slice(&body)
                .map_err(|e| Error::BadContent(format!("tag list: {e}")))?;
            out.extend(list.tags.unwrap_or_default());
            match next {
                Some(n) if !n.is_empty() && out.len() < 10_000 => {
                    url = absolute_url(&self.base, &n);
                }
                _ => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Starts a blob download; the caller streams and verifies the body.
    pub async fn blob(&mut self, digest: &berth_image::Digest) -> Result<reqwest::Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.get(&url, &[]).await?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
            let (_, text) = describe(status.as_u16(), &body);
            return Err(Error::Registry(format!(
                "error pulling blob {digest}: {text}"
            )));
        }
        Ok(resp)
    }

    /// A small blob (the image config), verified against its digest.
    pub async fn small_blob(
        &mut self,
        digest: &berth_image::Digest,
        limit: usize,
    ) -> Result<Vec<u8>> {
        let resp = self.blob(digest).await?;
        let body = read_limited(resp, limit).await?;
        if berth_image::Digest::of_bytes(&body) != *digest {
            return Err(Error::BadContent(format!(
                "blob {digest}: content does not match its digest"
            )));
        }
        Ok(body)
    }
}

/// An upload session the registry opened: where to send the blob, and the smallest chunk
/// it takes (`OCI-Chunk-Min-Length`), when it says.
pub struct Opened {
    location: String,
    chunk_min: Option<u64>,
}

/// What a blob is uploaded from.
enum Source<'a> {
    File(&'a std::path::Path),
    Bytes(&'a [u8]),
}

impl Source<'_> {
    /// `len` bytes from `offset`, streamed from a file; `progress` told as they go.
    async fn body(
        &self,
        offset: u64,
        len: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<reqwest::Body> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let file = match self {
            Source::Bytes(b) => {
                let part = b[offset as usize..(offset + len) as usize].to_vec();
                progress(len);
                return Ok(reqwest::Body::from(part));
            }
            Source::File(f) => f,
        };
        let read_err =
            |e: std::io::Error| Error::Transport(format!("read {}: {e}", file.display()));
        let mut f = tokio::fs::File::open(file).await.map_err(read_err)?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(read_err)?;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 << 10).map(move |c| {
                if let Ok(b) = &c {
                    progress(b.len() as u64);
                }
                c
            });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// An upload session, ready to receive its blob.
pub struct Upload {
    http: reqwest::Client,
    auth: Option<String>,
    /// `https://host`, for relative `Location`s.
    base: String,
    opened: Opened,
}

impl Upload {
    /// Sends the blob in `file`: in one `PUT` (a monolithic upload), or in `PATCH` chunks
    /// with `Content-Range` and a closing `PUT` when the registry names a chunk size
    /// (`OCI-Chunk-Min-Length`); `progress` is told each piece's length.
    pub async fn put_file(
        self,
        digest: &berth_image::Digest,
        file: &std::path::Path,
        progress: impl Fn(u64) + Send + Sync + Clone + 'static,
    ) -> Result<()> {
        let len = std::fs::metadata(file)
            .map_err(|e| Error::Transport(format!("read {}: {e}", file.display())))?
            .len();
        self.put(digest, Source::File(file), len, progress).await
    }

    /// Like [`Upload::put_file`], from memory (an image config).
    pub async fn put_bytes(self, digest: &berth_image::Digest, bytes: &[u8]) -> Result<()> {
        let len = bytes.len() as u64;
        self.put(digest, Source::Bytes(bytes), len, |_| {}).await
    }

    async fn put(
        self,
        digest: &berth_image::Digest,
        source: Source<'_>,
        len: u64,
        progress: impl Fn(u64) + Send + Sync + Clone + 'static,
    ) -> Result<()> {
        // Chunks of at least the size the registry asks for (and 1 MiB); a monolithic
        // PUT where it asks for none.
        let chunk = self.opened.chunk_min.map(|min| min.max(1 << 20));
        let mut location = self.opened.location.clone();
        let mut offset = 0;
        let mut body = None;
        match chunk.filter(|_| len > 0) {
            None => body = Some(source.body(0, len, progress.clone()).await?),
            Some(size) => {
                while offset < len {
                    let n = size.min(len - offset);
                    let part = source.body(offset, n, progress.clone()).await?;
                    let resp = self
                        .request(reqwest::Method::PATCH, &location)
                        .header(reqwest::header::CONTENT_LENGTH, n)
                        .header(
                            reqwest::header::CONTENT_RANGE,
                            format!("{offset}-{}", offset + n - 1),
                        )
                        .body(part)
                        .send()
                        .await
                        .map_err(|e| Error::Transport(transport_text(&location, &e)))?;
                    if resp.status().as_u16() != 202 {
                        return Err(push_error(resp).await);
                    }
                    location = self.next_location(&resp).unwrap_or(location);
                    offset += n;
                }
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let mut req = self.request(reqwest::Method::PUT, &url);
        req = match body {
            Some(b) => req.header(reqwest::header::CONTENT_LENGTH, len).body(b),
            None => req.header(reqwest::header::CONTENT_LENGTH, 0),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Transport(transport_text(&url, &e)))?;
        if resp.status().as_u16() != 201 {
            return Err(push_error(resp).await);
        }
        Ok(())
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(auth) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        req
    }

    /// The `Location` a chunk's answer gives for the next one.
    fn next_location(&self, resp: &reqwest::Response) -> Option<String> {
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)?
            .to_str()
            .ok()?;
        Some(absolute_url(&self.base, loc))
    }
}

/// A URL a registry answered with (`Location`, `Link`): absolute as given, or a path on
/// `base` (`https://host`).
fn absolute_url(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else {
        format!("{base}{url}")
    }
}

/// A token server's grant.
struct IssuedToken {
    token: String,
    expires_in: u64,
    refresh_token: String,
}

/// The registry a login names: Docker Hub for an empty address or its v1 index URL, else
/// the host of `server` (a URL or `host[:port]`).
pub fn login_domain(server: &str) -> String {
    let s = server.trim();
    let host = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = host.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "docker.io" | "registry-1.docker.io" => {
            berth_image::reference::DEFAULT_DOMAIN.to_string()
        }
        h => h.to_string(),
    }
}

/// Reads a response body, refusing one longer than `limit` before buffering it all.
pub(crate) async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(Error::BadContent(format!(
            "response of {} bytes exceeds the limit of {limit} bytes",
            resp.content_length().unwrap_or_default()
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Transport(format!("read from registry: {e}")))?
    {
        if out.len() + chunk.len() > limit {
            return Err(Error::BadContent(format!(
                "response exceeds the limit of {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A transport error in Go's words where they differ (`connection refused`, the x509
/// verification failures).
pub(crate) fn transport_text(url: &str, e: &reqwest::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    let last = last
        .replace("Connection refused (os error 111)", "connection refused")
        .replace("(os error 111)", "")
        .replace(
            "invalid peer certificate: UnknownIssuer",
            "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        )
        .replace(
            "invalid peer certificate: Expired",
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid",
        );
    format!("Get \"{url}\": {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_as_dockerd_takes_them() {
        assert_eq!(
            validate_mirror("https://m.example/").unwrap(),
            "https://m.example"
        );
        assert_eq!(
            validate_mirror("http://127.0.0.1:5000").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert!(validate_mirror("ftp://x")
            .unwrap_err()
            .contains("unsupported scheme \"ftp\""));
        assert!(validate_mirror("m.example").is_err());
        assert!(validate_mirror("https://m.example/v2/")
            .unwrap_err()
            .contains("path, query, or fragment"));
    }

    #[test]
    fn insecure_hosts() {
        let c = RegistryConfig {
            insecure: vec!["reg.lan:5000".into(), "10.1.0.0/16".into()],
            ..Default::default()
        };
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(c.is_insecure("10.1.2.3:443"));
        assert!(!c.is_insecure("10.2.0.1"));
        assert!(!c.is_insecure("registry-1.docker.io"));
    }
}
