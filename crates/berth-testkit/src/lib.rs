//! How berth's tests deal with what a machine lacks.
//!
//! A test that cannot run must never pass silently. Two cases differ:
//!
//! - a **missing prerequisite** is something an install fixes (a package, a pip module, the
//!   docker CLI). `./scripts/test.sh` installs all of them and sets `BERTH_TEST_STRICT=1`, so
//!   there a missing one fails the test with what to install; a bare `cargo test` (a
//!   developer's quick run, not root) records it as a skip instead;
//! - a **host limit** is something no install fixes (no `/dev/kvm`, a kernel without time
//!   namespaces, a cgroup v1 host for a v1-only check). It is always a skip.
//!
//! Every skip is appended, one line each, to the file named by `BERTH_TEST_SKIP_LOG`, which
//! `./scripts/test.sh` counts into its closing line (`N passed, N failed, N skipped`).

use std::io::Write;

/// Set by `./scripts/test.sh`: missing prerequisites fail instead of skipping.
pub const STRICT_ENV: &str = "BERTH_TEST_STRICT";
/// Set by `./scripts/test.sh`: where skips are recorded.
pub const SKIP_LOG_ENV: &str = "BERTH_TEST_SKIP_LOG";

/// Whether missing prerequisites are failures (the README's test command sets this).
pub fn strict() -> bool {
    std::env::var(STRICT_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The running test's name, as libtest names its thread (`None` on the main thread).
fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_string)
}

/// Records that the current test did not run, and why. Call it, then return from the test.
pub fn skip(reason: &str) {
    let name = test_name().unwrap_or_else(|| "(unnamed test)".into());
    eprintln!("skipped: {name}: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        let line = format!("{name}: {}\n", reason.replace('\n', " "));
        // One write of one line with O_APPEND: lines from parallel tests do not interleave.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// A host limit no install can fix: always a counted skip. Returns false so that a check
/// reads `if !host_has(cond, "…") { return; }`.
pub fn host_has(present: bool, missing: &str) -> bool {
    if !present {
        skip(missing);
    }
    present
}

/// A prerequisite an install fixes: a failure under `BERTH_TEST_STRICT`, else a counted
/// skip. `what` names it, `install` says how to get it. Returns whether it is present.
pub fn require(present: bool, what: &str, install: &str) -> bool {
    if present {
        return true;
    }
    if strict() {
        panic!("missing prerequisite: {what} ({install}; ./scripts/test.sh installs it)");
    }
    skip(&format!("missing {what} ({install})"));
    false
}

/// Whether the tests run as root (the end-to-end ones need it): a prerequisite.
pub fn require_root() -> bool {
    require(
        nix::unistd::Uid::effective().is_root(),
        "root",
        "run the tests as root",
    )
}

/// Whether `bin` is an executable file on `PATH`.
pub fn on_path(bin: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(bin))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Requires a program on `PATH`, installed by the Debian package `package`.
pub fn require_program(bin: &str, package: &str) -> bool {
    require(
        on_path(bin),
        &format!("{bin} on PATH"),
        &format!("apt-get install {package}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_things_pass_without_a_skip() {
        assert!(require(true, "x", "y"));
        assert!(host_has(true, "x"));
        assert!(on_path("sh"));
        assert!(!on_path("surely-not-a-program-name"));
    }
}
