//! Network namespaces the tests make to stand for other hosts, removed again on drop.

use std::process::{Command, Stdio};

/// Runs `ip` with `args`; a failure fails the test.
pub fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?} failed");
}

/// A network namespace removed on drop (with everything in it).
pub struct Netns(pub String);

impl Netns {
    /// Makes the namespace `name`, its loopback up.
    pub fn add(name: String) -> Netns {
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Joins this namespace to `other` by a veth pair on `10.<second>.<third>.0/30`: this
    /// end `near_if` with `.1`, the other `far_if` with `.2`; returns both addresses.
    pub fn join(
        &self,
        near_if: &str,
        other: &Netns,
        far_if: &str,
        second: u8,
        third: u32,
    ) -> (String, String) {
        let near = format!("10.{second}.{third}.1");
        let far = format!("10.{second}.{third}.2");
        ip(&[
            "-n", &self.0, "link", "add", near_if, "type", "veth", "peer", "name", far_if, "netns",
            &other.0,
        ]);
        ip(&[
            "-n",
            &self.0,
            "addr",
            "add",
            &format!("{near}/30"),
            "dev",
            near_if,
        ]);
        ip(&[
            "-n",
            &other.0,
            "addr",
            "add",
            &format!("{far}/30"),
            "dev",
            far_if,
        ]);
        ip(&["-n", &self.0, "link", "set", near_if, "up"]);
        ip(&["-n", &other.0, "link", "set", far_if, "up"]);
        (near, far)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}
