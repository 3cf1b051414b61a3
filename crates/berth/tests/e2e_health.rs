//! End-to-end: container healthchecks (`--health-*`, `State.Health`, `health_status`
//! events, validation), through the docker CLI and the API.
//!
//! Probes run every 200 ms here; every check polls with a deadline, none asserts a timing.

mod common;

use common::wait_for;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DEADLINE: Duration = Duration::from_secs(20);

fn health(d: &common::TestDaemon, name: &str) -> Value {
    let out = d.inspect(name, "{{json .State.Health}}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("health of {name} ({e}): {out}"))
}

/// Waits until `State.Health.Status` of `name` is `want`; returns the health then.
#[track_caller]
fn wait_health(d: &common::TestDaemon, name: &str, want: &str) -> Value {
    wait_for(&format!("{name} to be {want}"), DEADLINE, || {
        let h = health(d, name);
        (h["Status"] == want).then_some(h)
    })
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn probes_drive_status_log_and_events() {
    daemon!(d);
    let t0 = format!("{:.3}", now_secs() - 1.0);
    let every = ["--health-interval", "200ms"];
    let run = |name: &str, health: &[&str], cmd: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(health);
        args.push("busybox");
        args.extend_from_slice(cmd);
        d.docker(&args).ok();
    };
    let long = ["sh", "-c", "sleep 100"];
    // Fails until /tmp/ok exists.
    run(
        "becomes-ok",
        &[
            "--health-cmd",
            "test -e /tmp/ok",
            every[0],
            every[1],
            "--health-retries",
            "2",
            "--health-start-period",
            "0s",
        ],
        &["sh", "-c", "sleep 1; touch /tmp/ok; sleep 100"],
    );
    run(
        "always-bad",
        &[
            "--health-cmd",
            "echo boom; exit 3",
            every[0],
            every[1],
            "--health-retries",
            "2",
        ],
        &long,
    );
    run(
        "hangs",
        &[
            "--health-cmd",
            "sleep 30",
            every[0],
            every[1],
            "--health-timeout",
            "300ms",
            "--health-retries",
            "1",
        ],
        &long,
    );
    run(
        "not-yet",
        &["--health-cmd", "true", "--health-interval", "1h"],
        &long,
    );
    run("no-check", &["--no-healthcheck"], &long);
    run("plain", &[], &long);

    // Before its first probe: starting, no streak, an empty log.
    let h = health(&d, "not-yet");
    assert_eq!(
        h,
        serde_json::json!({"Status": "starting", "FailingStreak": 0, "Log": []})
    );
    // No healthcheck (`--no-healthcheck` is Test ["NONE"]), or none in the image: no Health.
    assert_eq!(d.inspect("no-check", "{{json .State.Health}}"), "null");
    assert_eq!(
        d.inspect("no-check", "{{json .Config.Healthcheck.Test}}"),
        "[\"NONE\"]"
    );
    assert_eq!(d.inspect("plain", "{{json .State.Health}}"), "null");

    // Failing, then passing: healthy with the streak reset and a passing entry last.
    let h = wait_health(&d, "becomes-ok", "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0, "{h}");
    for key in ["Start", "End"] {
        let t = last[key].as_str().unwrap_or("");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{key} {t:?}");
    }

    // Failing: unhealthy after the retries, with each result logged.
    let h = wait_health(&d, "always-bad", "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 2 && log.len() <= 5, "{h}");
    for r in log {
        assert_eq!(r["ExitCode"], 3, "{h}");
        assert_eq!(r["Output"], "boom\n", "{h}");
    }
    // The log keeps the last five results.
    let h = wait_for("a full log", DEADLINE, || {
        let h = health(&d, "always-bad");
        (h["FailingStreak"].as_i64().unwrap() > 5).then_some(h)
    });
    assert_eq!(h["Log"].as_array().unwrap().len(), 5, "{h}");

    // A probe that outlives its timeout is killed and recorded as -1.
    let h = wait_health(&d, "hangs", "unhealthy");
    let r = &h["Log"][0];
    assert_eq!(r["ExitCode"], -1, "{h}");
    assert_eq!(r["Output"], "Health check exceeded timeout (300ms)", "{h}");
    // Killed probes don't pile up: at most the one in flight remains.
    wait_for("a second timed-out probe", DEADLINE, || {
        (health(&d, "hangs")["Log"].as_array().unwrap().len() >= 2).then_some(())
    });
    let ps = d.docker(&["exec", "hangs", "ps", "-o", "args"]).out();
    let probes = ps.lines().filter(|l| l.trim() == "sleep 30").count();
    assert!(probes <= 1, "{ps}");

    // Pausing stops the probes (and, as dockerd does, marks the container unhealthy);
    // unpausing resumes them.
    d.docker(&["pause", "becomes-ok"]).ok();
    let paused = health(&d, "becomes-ok");
    assert_eq!(paused["Status"], "unhealthy", "{paused}");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(health(&d, "becomes-ok")["Log"], paused["Log"]);
    d.docker(&["unpause", "becomes-ok"]).ok();
    wait_health(&d, "becomes-ok", "healthy");

    // Stopping keeps the log; the status reads unhealthy like dockerd's.
    d.docker(&["stop", "-t", "0", "always-bad"]).ok();
    let h = health(&d, "always-bad");
    assert_eq!(h["Status"], "unhealthy", "{h}");
    assert_eq!(h["Log"].as_array().unwrap().len(), 5, "{h}");
    // A start begins again at starting.
    d.docker(&["start", "always-bad"]).ok();
    let h = health(&d, "always-bad");
    assert!(
        h["Status"] == "starting" || h["Status"] == "unhealthy",
        "{h}"
    );
    assert_eq!(d.docker(&["stop", "-t", "0", "always-bad"]).code, 0);

    // Events: each status change, and the probes' execs.
    let until = format!("{:.3}", now_secs());
    let events = |filter: &str| {
        d.docker(&[
            "events",
            "--since",
            &t0,
            "--until",
            &until,
            "--filter",
            filter,
            "--format",
            "{{.Actor.Attributes.name}} {{.Action}}",
        ])
        .out()
    };
    let statuses = events("event=health_status");
    for want in [
        "becomes-ok health_status: healthy",
        "always-bad health_status: unhealthy",
        "hangs health_status: unhealthy",
    ] {
        assert!(
            statuses.lines().any(|l| l == want),
            "no {want:?} in\n{statuses}"
        );
    }
    assert!(!statuses.contains("not-yet"), "{statuses}");
    let execs = events("event=exec_create");
    assert!(
        execs.contains("becomes-ok exec_create: /bin/sh -c test -e /tmp/ok"),
        "{execs}"
    );
    // Probes are the daemon's own: none lingers in ExecIDs.
    let ids = d.inspect("not-yet", "{{json .ExecIDs}}");
    assert_eq!(ids, "null");
}

#[test]
fn healthchecks_are_validated_at_create() {
    daemon!(d);
    let create = |hc: &str| {
        d.post_json(
            "/containers/create",
            &format!(r#"{{"Image":"busybox","Cmd":["true"],"Healthcheck":{hc}}}"#),
        )
    };
    create(r#"{"Test":["CMD","true"],"Interval":100}"#)
        .assert_error(400, "Interval in Healthcheck cannot be less than 1ms");
    create(r#"{"Test":["CMD","true"],"Timeout":999999}"#)
        .assert_error(400, "Timeout in Healthcheck cannot be less than 1ms");
    create(r#"{"Test":["CMD","true"],"Retries":-1}"#)
        .assert_error(400, "Retries in Healthcheck cannot be negative");
    create(r#"{"Test":["CMD","true"],"StartPeriod":5}"#)
        .assert_error(400, "StartPeriod in Healthcheck cannot be less than 1ms");
    create(r#"{"Test":["CMD","true"],"StartInterval":5}"#)
        .assert_error(400, "StartInterval in Healthcheck cannot be less than 1ms");
    // Zero means "default"; below API 1.44 StartInterval is ignored.
    let r = create(r#"{"Test":["CMD","true"],"Interval":0,"Timeout":1000000}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.post_json(
        "/v1.43/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"StartInterval":5}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // A created container has no Health until it starts.
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(d.inspect(&id, "{{json .State.Health}}"), "null");
}

#[test]
fn health_monitor_comes_back_after_daemon_restart() {
    daemon!(d);
    let mut d = d;
    d.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    wait_health(&d, "hc", "healthy");
    let seen = health(&d, "hc")["Log"].as_array().cloned().unwrap();
    d.kill9();
    d.restart_daemon();
    // Re-adopted: the monitor runs again and new results come in.
    wait_for("new probe results after the restart", DEADLINE, || {
        let h = health(&d, "hc");
        let log = h["Log"].as_array().cloned().unwrap_or_default();
        let fresh = log.iter().any(|r| !seen.contains(r));
        (fresh && h["Status"] == "healthy").then_some(())
    });
}
