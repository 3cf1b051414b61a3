//! Compatibility: docker-compose (the Python 1.29.2 release from PyPI, unmodified) against a
//! private daemon: a project network with service-name DNS, a published port, a named
//! volume, `ps`, `logs`, `down -v`. Needs `$BERTH_COMPOSE_V1` (default
//! /opt/berth-ci/compose-v1/bin/docker-compose), which `./scripts/test.sh` installs into
//! that virtualenv.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn compose_bin() -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var("BERTH_COMPOSE_V1")
            .unwrap_or_else(|_| "/opt/berth-ci/compose-v1/bin/docker-compose".into()),
    );
    berth_testkit::require(
        p.exists(),
        &format!("docker-compose 1.29.2 at {}", p.display()),
        "scripts/install-test-deps.sh makes its virtualenv",
    )
    .then_some(p)
}

/// Runs docker-compose as project `project` in `dir` against daemon `d`.
fn compose(
    bin: &Path,
    d: &common::TestDaemon,
    dir: &Path,
    project: &str,
    args: &[&str],
) -> common::Out {
    let mut c = Command::new(bin);
    c.args(["-p", project])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", &d.docker_config);
    common::run_cmd(c, None, Duration::from_secs(90))
}

#[test]
fn compose_v1_project_with_network_port_and_volume() {
    let Some(bin) = compose_bin() else { return };
    if !common::can_run_daemon() {
        return;
    }
    let d = common::TestDaemon::start();
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proj = d.dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("docker-compose.yml"),
        format!(
            r#"version: "3.8"
services:
  web:
    image: busybox
    command: sh -c "mkdir -p /w && echo compose-web > /w/index.html && exec httpd -f -p 80 -h /w"
    ports: ["{port}:80"]
    volumes: ["data:/data"]
  client:
    image: busybox
    # depends_on only orders the starts: retry until web's httpd answers.
    command: sh -c "until (echo GET / HTTP/1.0; echo) | nc web 80 | grep compose-web; do sleep 0.2; done; echo client-done; sleep 300"
    depends_on: [web]
volumes:
  data: {{}}
"#
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| compose(&bin, &d, &proj, "bcv1", args);
    compose(&["up", "-d"]).ok();
    let page = common::wait_for("the web service", Duration::from_secs(60), || {
        let out = Command::new("curl")
            .args(["-s", "-m", "2", &format!("http://127.0.0.1:{port}/")])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.contains("compose-web").then_some(s)
    });
    assert!(page.contains("compose-web"));
    let logs = common::wait_for(
        "the client to reach web by name",
        Duration::from_secs(60),
        || {
            let l = compose(&["logs", "client"]).stdout;
            l.contains("client-done").then_some(l)
        },
    );
    assert!(logs.contains("compose-web"), "{logs}");
    let ps = compose(&["ps"]).out();
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    assert!(
        d.docker(&["network", "ls", "-q", "--filter", "name=bcv1_default"])
            .out()
            .len()
            == 12
    );
    assert_eq!(d.docker(&["volume", "ls", "-q"]).out(), "bcv1_data");
    compose(&["down", "-v"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).out(), "");
    assert_eq!(d.docker(&["volume", "ls", "-q"]).out(), "");
    assert!(d
        .docker(&["network", "ls", "-q", "--filter", "name=bcv1_default"])
        .out()
        .is_empty());
}

/// `depends_on: condition: service_healthy` (compose file 2.4): compose waits for the
/// healthcheck berth runs before it starts the dependent service.
#[test]
fn compose_v1_waits_for_a_healthy_dependency() {
    let Some(bin) = compose_bin() else { return };
    if !common::can_run_daemon() {
        return;
    }
    let d = common::TestDaemon::start();
    let proj = d.dir.join("healthproj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("docker-compose.yml"),
        r#"version: "2.4"
services:
  db:
    image: busybox
    command: sh -c "sleep 1; touch /tmp/ready; exec sleep 300"
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ready"]
      interval: 200ms
      timeout: 2s
      retries: 50
  app:
    image: busybox
    command: sh -c "echo app-started; exec sleep 300"
    depends_on:
      db:
        condition: service_healthy
"#,
    )
    .unwrap();
    let compose = |args: &[&str]| compose(&bin, &d, &proj, "bcvh", args);
    // `up -d` returns only once db is healthy and app was started.
    compose(&["up", "-d"]).ok();
    assert_eq!(
        d.inspect("bcvh_db_1", "{{.State.Health.Status}}"),
        "healthy"
    );
    let logs = common::wait_for("app to start", Duration::from_secs(60), || {
        let l = compose(&["logs", "app"]).stdout;
        l.contains("app-started").then_some(l)
    });
    assert!(logs.contains("app-started"));
    let ps = compose(&["ps"]).out();
    assert!(ps.contains("(healthy)"), "{ps}");
    compose(&["down", "-v"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).out(), "");
}
