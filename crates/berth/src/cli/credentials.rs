//! The docker CLI's credentials, shared with it: `config.json` under `$DOCKER_CONFIG` (or
//! `~/.docker`), its `auths`, and the `credsStore` / `credHelpers` helpers
//! (`docker-credential-<name>` with `get`, `store`, `erase`). A login with berth is seen by
//! docker and the reverse; the file keeps every key berth does not know.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The key Docker Hub's credentials live under, as the docker CLI writes it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials of one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token a login returned; replaces the password.
    pub identity_token: String,
}

impl Entry {
    /// The `X-Registry-Auth` value for `server` (base64url JSON, as the docker CLI sends it).
    pub fn header(&self, server: &str) -> String {
        let v = if self.identity_token.is_empty() {
            json!({"username": self.username, "password": self.password, "serveraddress": server})
        } else {
            json!({"identitytoken": self.identity_token, "serveraddress": server})
        };
        base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
    }
}

/// The key a registry's credentials are kept under: Docker Hub's URL for `docker.io`,
/// else the host as given.
pub fn server_key(domain: &str) -> String {
    match domain {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" | DOCKER_HUB_KEY => {
            DOCKER_HUB_KEY.to_string()
        }
        d => d
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

/// `config.json`, as read (every key kept).
pub struct ConfigFile {
    pub path: PathBuf,
    doc: Map<String, Value>,
}

impl ConfigFile {
    /// Reads `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; a missing file is
    /// an empty one.
    pub fn load() -> Result<ConfigFile, String> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        let path = dir.join("config.json");
        let doc = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(format!(
                        "loading config file: {}: invalid JSON",
                        path.display()
                    ))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(format!("loading config file: {}: {e}", path.display())),
        };
        Ok(ConfigFile { path, doc })
    }

    fn helper(&self, key: &str) -> Option<String> {
        self.doc
            .get("credHelpers")
            .and_then(|h| h.get(key))
            .or_else(|| self.doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Whether credentials go to a helper (then the file holds no secret).
    pub fn uses_helper(&self, key: &str) -> bool {
        self.helper(key).is_some()
    }

    /// The credentials stored for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Entry> {
        if let Some(h) = self.helper(key) {
            let out = run_helper(&h, "get", key.as_bytes()).ok()?;
            let v: Value = serde_json::from_slice(&out).ok()?;
            let user = v["Username"].as_str().unwrap_or("").to_string();
            let secret = v["Secret"].as_str().unwrap_or("").to_string();
            return Some(if user == "<token>" {
                Entry {
                    identity_token: secret,
                    ..Default::default()
                }
            } else {
                Entry {
                    username: user,
                    password: secret,
                    identity_token: String::new(),
                }
            });
        }
        let a = self.doc.get("auths")?.get(key)?;
        let mut e = Entry {
            identity_token: a["identitytoken"].as_str().unwrap_or("").to_string(),
            ..Default::default()
        };
        if let Some((u, p)) = a["auth"]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        {
            e.username = u;
            e.password = p;
        }
        (!e.username.is_empty() || !e.identity_token.is_empty()).then_some(e)
    }

    /// Stores credentials for `key` (in its helper, or in `auths`) and saves the file.
    pub fn store(&mut self, key: &str, e: &Entry) -> Result<(), String> {
        if let Some(h) = self.helper(key) {
            let (user, secret) = if e.identity_token.is_empty() {
                (e.username.as_str(), e.password.as_str())
            } else {
                ("<token>", e.identity_token.as_str())
            };
            let input = json!({"ServerURL": key, "Username": user, "Secret": secret});
            run_helper(&h, "store", input.to_string().as_bytes())?;
            self.auths().insert(key.to_string(), json!({}));
        } else {
            let mut entry = Map::new();
            if e.identity_token.is_empty() {
                let raw = format!("{}:{}", e.username, e.password);
                entry.insert(
                    "auth".into(),
                    base64::engine::general_purpose::STANDARD.encode(raw).into(),
                );
            } else {
                let raw = format!("{}:", e.username);
                entry.insert(
                    "auth".into(),
                    base64::engine::general_purpose::STANDARD.encode(raw).into(),
                );
                entry.insert("identitytoken".into(), e.identity_token.clone().into());
            }
            self.auths().insert(key.to_string(), Value::Object(entry));
        }
        self.save()
    }

    /// Removes the credentials of `key`; whether there were any.
    pub fn erase(&mut self, key: &str) -> Result<bool, String> {
        let had =
            self.get(key).is_some() || self.doc.get("auths").and_then(|a| a.get(key)).is_some();
        if let Some(h) = self.helper(key) {
            let _ = run_helper(&h, "erase", key.as_bytes());
        }
        self.auths().remove(key);
        self.save()?;
        Ok(had)
    }

    fn auths(&mut self) -> &mut Map<String, Value> {
        let a = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !a.is_object() {
            *a = Value::Object(Map::new());
        }
        a.as_object_mut().expect("just made an object")
    }

    /// Writes the file whole (a temporary file renamed over it, 0600 as the docker CLI's).
    fn save(&self) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&Value::Object(self.doc.clone()))
            .map_err(|e| e.to_string())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("write {}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("write {}: {e}", self.path.display()))
    }
}

/// Runs `docker-credential-<name> <verb>` with `input` on its stdin.
fn run_helper(name: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let bin = format!("docker-credential-{name}");
    let mut child = Command::new(&bin)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("error getting credentials - err: exec: \"{bin}\": {e}"))?;
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(input);
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Err(format!("error {verb} credentials - {bin}: {text}"));
    }
    Ok(out.stdout)
}

/// The `X-Registry-Auth` header for pulling `image` (its registry's stored credentials).
pub fn auth_header_for_image(image: &str) -> Option<String> {
    let r = berth_image::Reference::parse(image).ok()?;
    let key = server_key(r.domain());
    let cfg = ConfigFile::load().ok()?;
    cfg.get(&key).map(|e| e.header(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_headers() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_key("https://reg.example/"), "reg.example");
        let e = Entry {
            username: "a".into(),
            password: "b".into(),
            identity_token: String::new(),
        };
        let h = base64::engine::general_purpose::URL_SAFE
            .decode(e.header("x"))
            .unwrap();
        let v: Value = serde_json::from_slice(&h).unwrap();
        assert_eq!(v["username"], "a");
        assert_eq!(v["serveraddress"], "x");
    }
}
