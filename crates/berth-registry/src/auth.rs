//! Credentials (as clients send them in `X-Registry-Auth`) and the registry's challenges.

use base64::Engine as _;
use serde::Deserialize;

/// What a client authenticates with: a user and password, or an identity token that a
/// login returned (OAuth2 refresh token). Never printed: `Debug` hides the secrets.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `base64(user:password)`, as `~/.docker/config.json` keeps it.
    #[serde(default)]
    pub auth: String,
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .field("secrets", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// Decodes an `X-Registry-Auth` header: base64url (padded or not, as the docker CLI and
    /// docker-py send it) of a JSON object. An empty header or `{}` means anonymous; a header
    /// that does not decode is anonymous too, as in moby.
    pub fn from_header(value: &str) -> Credentials {
        let value = value.trim();
        if value.is_empty() {
            return Credentials::default();
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let bytes = engines.iter().find_map(|e| e.decode(value).ok());
        let mut c: Credentials = bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if c.username.is_empty() && !c.auth.is_empty() {
            if let Some((u, p)) = base64::engine::general_purpose::STANDARD
                .decode(&c.auth)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
            {
                c.username = u;
                c.password = p;
            }
        }
        c
    }

    /// Whether a user and password are both there (moby sends Basic auth only then).
    pub fn has_password(&self) -> bool {
        !self.username.is_empty() && !self.password.is_empty()
    }

    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`: send the credentials with every request.
    Basic,
    /// `Bearer realm="…",service="…"`: get a token from `realm` for each scope.
    Bearer { realm: String, service: String },
}

impl Challenge {
    /// Parses the header; `None` for schemes other than Basic and Bearer.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm"),
                service: get("service"),
            }),
            _ => None,
        }
    }
}

/// `k="v", k2=v2` pairs (quoted strings with `\` escapes, or tokens).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            out.push((key.trim().to_string(), String::new()));
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

/// A token server's answer (`access_token` wins over `token`).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub expires_in: u64,
    /// Issued to a login that asked for an offline token: the client's identity token.
    #[serde(default)]
    pub refresh_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let json = r#"{"username":"alice","password":"s3cret","serveraddress":"127.0.0.1:5000"}"#;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let c = Credentials::from_header(&url);
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cret")
        );
        assert!(c.has_password());
        assert_eq!(Credentials::from_header("e30="), Credentials::default());
        assert_eq!(Credentials::from_header("%%%"), Credentials::default());
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw");
        let c = Credentials::from_header(
            &base64::engine::general_purpose::URL_SAFE.encode(format!(r#"{{"auth":"{auth}"}}"#)),
        );
        assert_eq!((c.username.as_str(), c.password.as_str()), ("bob", "pw"));
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: "registry.example".into()
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(
            parse_params(r#"a="x,\"y", b=z"#),
            [("a".into(), "x,\"y".into()), ("b".into(), "z".into())]
        );
    }
}
