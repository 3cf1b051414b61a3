//! `docker search`: the registry's v1 search API (`GET /v1/search?q=&n=`), which Docker
//! Hub and other indexes serve; distribution's registry does not.

use crate::client::{read_limited, transport_text, RegistryConfig};
use crate::error::{Error, Result};
use crate::Credentials;

/// Where Docker Hub's v1 index (and its search) lives.
pub const DOCKER_INDEX_HOST: &str = "index.docker.io";

/// The most results one search may ask for, and the default, as dockerd.
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 25;

/// One hit, in the Engine API's shape.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub name: String,
    /// Deprecated by Docker Hub; dockerd 28 always answers false.
    #[serde(default)]
    pub is_automated: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(serde::Deserialize)]
struct SearchResults {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Splits a search term into the index to ask and the term it gets, as dockerd: a first
/// component that looks like a host (`.`, `:` or `localhost`) names the index; anything
/// else searches Docker Hub, where `library/` is dropped.
pub fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            if host == "docker.io" || host == DOCKER_INDEX_HOST {
                (
                    DOCKER_INDEX_HOST.to_string(),
                    rest.trim_start_matches("library/").to_string(),
                )
            } else {
                (host.to_string(), rest.to_string())
            }
        }
        _ => (
            DOCKER_INDEX_HOST.to_string(),
            term.trim_start_matches("library/").to_string(),
        ),
    }
}

/// Searches the index `term` names for at most `limit` repositories (0: the default).
pub async fn search(
    config: &RegistryConfig,
    term: &str,
    limit: u32,
    creds: &Credentials,
) -> Result<Vec<SearchResult>> {
    if term.contains("://") {
        return Err(Error::Invalid(format!(
            "invalid repository name: repository name ({term}) should not have a scheme"
        )));
    }
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::Invalid(format!(
            "limit {limit} is outside the range of [1, {MAX_LIMIT}]"
        )));
    }
    let (host, query) = split_term(term);
    let http = config.http_client(&host)?;
    let mut last = None;
    for scheme in config.schemes(&host) {
        let url = format!("{scheme}://{host}/v1/search");
        let mut req = http
            .get(&url)
            .query(&[("q", query.as_str()), ("n", &limit.to_string())]);
        if creds.has_password() {
            req = req.header(reqwest::header::AUTHORIZATION, creds.basic());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                last = Some(Error::Transport(transport_text(&url, &e)));
                continue;
            }
        };
        let status = resp.status().as_u16();
        let body = read_limited(resp, 8 << 20).await?;
        if status != 200 {
            return Err(Error::Registry(format!("Unexpected status code {status}")));
        }
        let found: SearchResults = serde_json::from_slice(&body)
            .map_err(|e| Error::BadContent(format!("search results from {host}: {e}")))?;
        return Ok(found
            .results
            .into_iter()
            .map(|r| SearchResult {
                is_automated: false,
                ..r
            })
            .collect());
    }
    Err(last.unwrap_or_else(|| Error::Transport(format!("{host}: no endpoint"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_index() {
        assert_eq!(
            split_term("busybox"),
            ("index.docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("index.docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("me/app"),
            ("index.docker.io".into(), "me/app".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/app"),
            ("127.0.0.1:5000".into(), "app".into())
        );
        assert_eq!(
            split_term("localhost/x/y"),
            ("localhost".into(), "x/y".into())
        );
        assert_eq!(
            split_term("docker.io/library/nginx"),
            ("index.docker.io".into(), "nginx".into())
        );
    }
}
