//! Which daemon to talk to: `-H` > `BERTH_HOST` > `DOCKER_HOST` > the default socket.

use std::path::PathBuf;

/// berth's default API socket (the daemon's `--exec-root` default plus `berth.sock`).
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path/to.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP, no TLS).
    Tcp(String),
}

impl Host {
    /// Parses `unix://…`, `tcp://…`, or a bare absolute path (taken as a unix socket).
    pub fn parse(s: &str) -> Result<Host, String> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(format!("invalid host: {s}"));
            }
            return Ok(Host::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                return Err(format!("invalid host: {s}"));
            }
            let a = if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:2375")
            };
            return Ok(Host::Tcp(a));
        }
        if s.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(s)));
        }
        Err(format!("invalid host: unsupported protocol in {s:?}"))
    }

    /// The address as the user would write it; used in error messages.
    pub fn url(&self) -> String {
        match self {
            Host::Unix(p) => format!("unix://{}", p.display()),
            Host::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

/// Picks the host text from the flag and the two environment variables, in precedence
/// order. Empty values count as unset, as docker treats an empty `DOCKER_HOST`.
pub fn pick_host(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> String {
    [flag, berth_host, docker_host]
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_HOST)
        .to_string()
}

/// Resolves the host from `-H` and the process environment.
pub fn resolve(flag: Option<&str>) -> Result<Host, String> {
    let b = std::env::var("BERTH_HOST").ok();
    let d = std::env::var("DOCKER_HOST").ok();
    Host::parse(&pick_host(flag, b.as_deref(), d.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        assert_eq!(pick_host(None, None, None), DEFAULT_HOST);
        assert_eq!(pick_host(None, None, Some("unix:///d")), "unix:///d");
        assert_eq!(
            pick_host(None, Some("unix:///b"), Some("unix:///d")),
            "unix:///b"
        );
        assert_eq!(
            pick_host(Some("unix:///f"), Some("unix:///b"), Some("unix:///d")),
            "unix:///f"
        );
        assert_eq!(pick_host(None, Some(""), Some("unix:///d")), "unix:///d");
    }

    #[test]
    fn parses() {
        assert_eq!(
            Host::parse("unix:///tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("/tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://1.2.3.4").unwrap(),
            Host::Tcp("1.2.3.4:2375".into())
        );
        assert_eq!(Host::parse("tcp://h:1").unwrap().url(), "tcp://h:1");
        assert!(Host::parse("ssh://x").is_err());
        assert!(Host::parse("unix://").is_err());
    }
}
