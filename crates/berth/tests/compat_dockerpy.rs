//! Compatibility: docker-py (PyPI `docker` 7.x), unmodified, against a private daemon.
//!
//! Runs `tests/compat/dockerpy_smoke.py` with `DOCKER_HOST=unix://<socket>`; the script
//! prints one line per check and exits non-zero at the first failure. Needs `python3` with
//! `docker==7.1.0`, which `./scripts/test.sh` installs (a counted skip under a bare
//! `cargo test`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The script's own checks take about 15 s; this only stops a hang.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// docker-py's version, or None (and why) when python3 or the package is missing.
fn dockerpy_version() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import docker; print(docker.__version__)"])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            berth_testkit::require(
                false,
                &format!("docker-py ({})", why.trim().lines().last().unwrap_or("")),
                "pip install docker==7.1.0",
            );
            None
        }
        Err(e) => {
            berth_testkit::require(false, &format!("python3 ({e})"), "apt-get install python3");
            None
        }
    }
}

#[test]
fn dockerpy_smoke() {
    let Some(version) = dockerpy_version() else {
        return;
    };
    if !common::can_run_daemon() {
        return;
    }
    let d = common::TestDaemon::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/dockerpy_smoke.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", &d.docker_config)
        .env("PYTHONUNBUFFERED", "1")
        .env("SMOKE_SUBNET", common::free_test_subnet())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_API_VERSION")
        .env_remove("SMOKE_KEEP_GOING");
    let out = common::run_cmd(cmd, None, SCRIPT_TIMEOUT);
    println!("docker-py {version}:\n{}", out.stdout);
    assert_eq!(
        out.code, 0,
        "docker-py {version} smoke test failed (exit {}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.code, out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("all checks passed"),
        "script ended early:\n{}",
        out.stdout
    );
}
