//! Healthchecks, as moby's `daemon/health.go` runs them: while a container runs (and is
//! not paused), its `Config.Healthcheck` probe is exec'd inside it every `Interval` (at
//! `StartInterval` during the start period), and `State.Health` records the status, the
//! failing streak and the last five results.
//!
//! A probe is an ordinary exec instance (the same monitor path `docker exec` takes), so it
//! emits `exec_create`, `exec_start` and `exec_die` events like dockerd's; a change of
//! status emits `health_status: <status>`. Health is replicated to the in-memory record
//! only (as moby's `CommitInMemory`); it reaches the store with the next state change.

use super::exec;
use super::Container;
use crate::daemon::Daemon;
use berth_api::container::{Health, HealthConfig, HealthcheckResult};
use berth_api::exec::ExecConfig;
use berth_api::ApiError;
use berth_runtime::protocol::FrameKind;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Longest probe output kept; more is cut and marked with "...".
const MAX_OUTPUT_LEN: usize = 4096;
/// Between probes (from the end of one to the start of the next), and before the first.
const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// How long one probe may run.
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Failures before a container counts as unstable: none by default.
const DEFAULT_START_PERIOD: Duration = Duration::ZERO;
/// Between probes during the start period.
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Consecutive failures that make a container unhealthy.
const DEFAULT_PROBE_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Time allowed for starting a probe's process, apart from its own timeout.
const PROBE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// moby's `container.MinimumDuration`, in nanoseconds.
const MINIMUM_DURATION_NS: i64 = 1_000_000;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// The probe settings of a `Config.Healthcheck`, with moby's defaults.
trait ProbeSettings {
    fn interval(&self) -> Duration;
    fn timeout(&self) -> Duration;
    fn start_period(&self) -> Duration;
    fn start_interval(&self) -> Duration;
    fn retries(&self) -> i64;
}

/// A container's healthcheck (the image's already merged in at create).
fn config_of(config: &berth_api::container::Config) -> Option<HealthConfig> {
    config.healthcheck.clone()
}

impl ProbeSettings for HealthConfig {
    fn interval(&self) -> Duration {
        with_default(self.interval, DEFAULT_PROBE_INTERVAL)
    }
    fn timeout(&self) -> Duration {
        with_default(self.timeout, DEFAULT_PROBE_TIMEOUT)
    }
    fn start_period(&self) -> Duration {
        with_default(self.start_period, DEFAULT_START_PERIOD)
    }
    fn start_interval(&self) -> Duration {
        with_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    fn retries(&self) -> i64 {
        match self.retries {
            Some(r) if r > 0 => r,
            _ => DEFAULT_PROBE_RETRIES,
        }
    }
}

/// moby's `timeoutWithDefault`; a negative value (which create refuses) also takes the
/// default rather than spinning.
fn with_default(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// Create-time checks of the client's `Config.Healthcheck` (moby's `validateHealthCheck`),
/// before the image's is merged in. Clients below API 1.44 cannot set `StartInterval`:
/// it is cleared, as moby's router does.
pub fn validate(healthcheck: &mut Option<HealthConfig>, api_version: &str) -> Result<(), ApiError> {
    let Some(hc) = healthcheck.as_mut() else {
        return Ok(());
    };
    let old_client = berth_api::version::parse(api_version)
        .is_some_and(|v| Some(v) < berth_api::version::parse("1.44"));
    if old_client {
        hc.start_interval = None;
    }
    let hc = hc.clone();
    let min = go_duration(Duration::from_nanos(MINIMUM_DURATION_NS as u64));
    let too_short = |d: Option<i64>| d.is_some_and(|d| d != 0 && d < MINIMUM_DURATION_NS);
    if too_short(hc.interval) {
        return Err(ApiError::invalid(format!(
            "Interval in Healthcheck cannot be less than {min}"
        )));
    }
    if too_short(hc.timeout) {
        return Err(ApiError::invalid(format!(
            "Timeout in Healthcheck cannot be less than {min}"
        )));
    }
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(ApiError::invalid(
            "Retries in Healthcheck cannot be negative",
        ));
    }
    if too_short(hc.start_period) {
        return Err(ApiError::invalid(format!(
            "StartPeriod in Healthcheck cannot be less than {min}"
        )));
    }
    if too_short(hc.start_interval) {
        return Err(ApiError::invalid(format!(
            "StartInterval in Healthcheck cannot be less than {min}"
        )));
    }
    Ok(())
}

/// The command a probe runs (moby's `getProbe` + `cmdProbe`): `None` without a
/// healthcheck, with an empty `Test` (nothing inherited) or with `NONE`.
fn probe_command(config: &berth_api::container::Config) -> Option<Vec<String>> {
    let hc = config_of(config)?;
    let test = hc.test.filter(|t| !t.is_empty())?;
    match test[0].as_str() {
        "CMD" => Some(test[1..].to_vec()),
        "CMD-SHELL" => {
            let mut cmd = config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            cmd.extend(test[1..].iter().cloned());
            Some(cmd)
        }
        "NONE" => None,
        other => {
            tracing::warn!("unknown healthcheck type '{other}' (expected 'CMD')");
            None
        }
    }
}

/// moby's `Health.Status()`: unhealthy while the monitor was never set up.
trait HealthStatus {
    fn status(&self) -> &str;
}

impl HealthStatus for Health {
    fn status(&self) -> &str {
        if self.status.is_empty() {
            UNHEALTHY
        } else {
            &self.status
        }
    }
}

/// Changes `State.Health` under the record's lock; returns `f`'s answer.
fn with_health<T>(c: &Container, f: impl FnOnce(&mut Health, &super::ContainerRecord) -> T) -> T {
    let mut rec = c.rec();
    let mut h = rec.state.health.clone().unwrap_or_default();
    let out = f(&mut h, &rec);
    rec.state.health = Some(h);
    out
}

/// The probe monitor of a container: at most one runs at a time.
#[derive(Default)]
pub struct Monitor {
    /// Set to `true` to stop the running monitor (moby's monitor channel).
    stop: Mutex<Option<(u64, watch::Sender<bool>)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Monitor {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(u64, watch::Sender<bool>)>> {
        self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// moby's `initHealthMonitor`, after a start, restart or re-adoption: status `starting`,
/// streak 0 (the log stays), and a monitor. A container re-adopted while paused keeps its
/// recorded health and gets none, as moby restores it.
pub fn init(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    let (probe, paused) = {
        let rec = c.rec();
        (probe_command(&rec.config), rec.state.paused)
    };
    if probe.is_none() || paused {
        return;
    }
    stop(c);
    with_health(c, |h, _| {
        h.status = STARTING.into();
        h.failing_streak = 0;
    });
    update(daemon, c);
}

/// moby's `updateHealthMonitor`: runs the monitor while the container runs unpaused and
/// has a probe; stops it otherwise.
pub fn update(daemon: &Arc<Daemon>, c: &Arc<Container>) {
    let (has_health, probe, want) = {
        let rec = c.rec();
        let probe = probe_command(&rec.config);
        let want = rec.state.running && !rec.state.paused && probe.is_some();
        (rec.state.health.is_some(), probe, want)
    };
    if !has_health {
        return;
    }
    match probe {
        Some(cmd) if want => open(daemon, c, cmd),
        _ => stop(c),
    }
}

/// moby's `stopHealthchecks` / `CloseMonitorChannel`: stops the monitor (killing a probe
/// in flight) and, when one ran, marks the container unhealthy as dockerd does.
pub fn stop(c: &Container) {
    let taken = c.health.slot().take();
    if let Some((_, tx)) = taken {
        tx.send_replace(true);
        with_health(c, |h, _| h.status = UNHEALTHY.into());
    }
}

/// Stops the monitor of generation `generation` if it is still the current one.
fn stop_own(c: &Container, generation: u64) {
    let mut slot = c.health.slot();
    if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
        if let Some((_, tx)) = slot.take() {
            drop(slot);
            tx.send_replace(true);
            with_health(c, |h, _| h.status = UNHEALTHY.into());
        }
    }
}

fn open(daemon: &Arc<Daemon>, c: &Arc<Container>, cmd: Vec<String>) {
    let mut slot = c.health.slot();
    if slot.is_some() {
        return;
    }
    let generation = c
        .health
        .generation
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, rx) = watch::channel(false);
    *slot = Some((generation, tx));
    drop(slot);
    tokio::spawn(run_monitor(daemon.clone(), c.clone(), rx, cmd, generation));
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Time since `since`, zero when it lies ahead or is unknown.
fn elapsed_since(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    since.map(|s| (now - s).to_std().unwrap_or(Duration::ZERO))
}

/// The monitor loop (moby's `monitor`): wait, probe, record, until stopped.
async fn run_monitor(
    daemon: Arc<Daemon>,
    c: Arc<Container>,
    mut stop_rx: watch::Receiver<bool>,
    cmd: Vec<String>,
    generation: u64,
) {
    loop {
        let wait = {
            let rec = c.rec();
            let hc = config_of(&rec.config).unwrap_or_default();
            let started = parse_time(&rec.state.started_at);
            let in_start_period =
                elapsed_since(started, Utc::now()).is_some_and(|since| since < hc.start_period());
            if in_start_period && rec.state.health.clone().unwrap_or_default().status() == STARTING
            {
                hc.start_interval()
            } else {
                hc.interval()
            }
        };
        tokio::select! {
            _ = stop_rx.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        // A container that ended without telling us (a race with its exit) stops here.
        let (running, paused, timeout) = {
            let rec = c.rec();
            let hc = config_of(&rec.config).unwrap_or_default();
            (rec.state.running, rec.state.paused, hc.timeout())
        };
        if !running || paused {
            stop_own(&c, generation);
            return;
        }
        let start = Utc::now();
        let outcome = run_probe(&daemon, &c, &cmd, timeout, &mut stop_rx).await;
        let (exit_code, output) = match outcome {
            Probe::Done(code, out) => (code, out),
            Probe::Failed(msg) => {
                tracing::warn!("health check for container {} error: {msg}", c.id);
                (-1, msg)
            }
            Probe::Stopped => return,
        };
        let result = HealthcheckResult {
            start: go_time(start),
            end: go_time(Utc::now()),
            exit_code,
            output,
        };
        record(&daemon, &c, &stop_rx, result, start);
    }
}

/// moby's `handleProbeResult`: log the result, update streak and status, and announce a
/// change of status. A result that arrives after the monitor was stopped is dropped.
fn record(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    stop_rx: &watch::Receiver<bool>,
    result: HealthcheckResult,
    start: DateTime<Utc>,
) {
    let changed = {
        let mut rec = c.rec();
        if *stop_rx.borrow() {
            return;
        }
        let hc = config_of(&rec.config).unwrap_or_default();
        let since_start = elapsed_since(parse_time(&rec.state.started_at), start);
        let mut h = rec.state.health.clone().unwrap_or_default();
        let old = h.status().to_string();
        apply_result(&mut h, result, &hc, since_start);
        let new = h.status().to_string();
        rec.state.health = Some(h);
        (old != new).then_some(new)
    };
    if let Some(status) = changed {
        daemon.container_event(c, &format!("health_status: {status}"), &[]);
    }
}

/// The state change of one result; `since_start` is the probe's start minus the
/// container's `StartedAt`.
fn apply_result(
    h: &mut Health,
    result: HealthcheckResult,
    hc: &HealthConfig,
    since_start: Option<Duration>,
) {
    let log = &mut h.log;
    let exit_code = result.exit_code;
    log.push(result);
    if log.len() > MAX_LOG_ENTRIES {
        let extra = log.len() - MAX_LOG_ENTRIES;
        log.drain(..extra);
    }
    if exit_code == 0 {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
        return;
    }
    // A container that never passed is not held to its failures during the start period.
    let in_start_period =
        h.status() == STARTING && since_start.is_some_and(|since| since < hc.start_period());
    if !in_start_period {
        h.failing_streak += 1;
        if h.failing_streak >= hc.retries() {
            h.status = UNHEALTHY.into();
        }
    }
}

/// How a probe ended.
enum Probe {
    /// Exit code (-1 for a timeout) and output.
    Done(i64, String),
    /// It could not run; recorded as exit -1 with this text.
    Failed(String),
    /// The monitor was stopped meanwhile: nothing to record.
    Stopped,
}

/// moby's `limitedBuffer`: the first 4096 bytes of stdout and stderr together.
#[derive(Default)]
struct LimitedBuffer {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedBuffer {
    fn write(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT_LEN
            .saturating_sub(self.buf.len())
            .min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// Reads an exec's output until its exit; `None` when the stream ended without one.
async fn collect(sub: &mut super::output::OutputReader, out: &mut LimitedBuffer) -> Option<i64> {
    loop {
        match sub.recv().await {
            Some(super::Output::Data(_, b)) => out.write(&b),
            Some(super::Output::Exit(code)) => return Some(code),
            None => return None,
        }
    }
}

/// Runs one probe as an exec inside the container (moby's `cmdProbe.run`).
async fn run_probe(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    cmd: &[String],
    timeout: Duration,
    stop_rx: &mut watch::Receiver<bool>,
) -> Probe {
    let (user, working_dir) = {
        let rec = c.rec();
        (rec.config.user.clone(), rec.config.working_dir.clone())
    };
    let config = ExecConfig {
        attach_stdout: true,
        attach_stderr: true,
        cmd: Some(cmd.to_vec()),
        user,
        working_dir,
        ..Default::default()
    };
    let id = match exec::create(daemon, c, config) {
        Ok(id) => id,
        Err(e) => return Probe::Failed(e.to_api().message),
    };
    let outcome = run_exec(daemon, c, &id, cmd, timeout, stop_rx).await;
    // Probes are the daemon's own execs: nobody inspects them once they have ended.
    daemon
        .execs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    outcome
}

async fn run_exec(
    daemon: &Arc<Daemon>,
    c: &Arc<Container>,
    id: &str,
    cmd: &[String],
    timeout: Duration,
    stop_rx: &mut watch::Receiver<bool>,
) -> Probe {
    let inst = match exec::find(daemon, id) {
        Ok(i) => i,
        Err(e) => return Probe::Failed(e.message),
    };
    let mut sub = inst.output.subscribe();
    daemon.container_event(
        c,
        &format!("exec_start: {}", cmd.join(" ")),
        &[("execID", id.to_string())],
    );
    inst.state.lock().unwrap_or_else(|p| p.into_inner()).started = true;
    match tokio::time::timeout(PROBE_START_TIMEOUT, exec::launch(daemon, c, &inst, false)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = std::fs::remove_dir_all(daemon.exec_dir(id));
            let msg = e.to_api().message.replacen(
                "failed to create task for container: failed to create shim task: OCI runtime create failed",
                "OCI runtime exec failed: exec failed",
                1,
            );
            return Probe::Failed(msg);
        }
        Err(_) => {
            return Probe::Failed(format!(
                "timed out starting health check for container {}",
                c.id
            ))
        }
    }
    let mut out = LimitedBuffer::default();
    enum Ending {
        Exited(Option<i64>),
        TimedOut,
        Stopped,
    }
    let ending = {
        let done = collect(&mut sub, &mut out);
        tokio::pin!(done);
        tokio::select! {
            code = &mut done => Ending::Exited(code),
            _ = tokio::time::sleep(timeout) => Ending::TimedOut,
            _ = stop_rx.wait_for(|s| *s) => Ending::Stopped,
        }
    };
    let code = match ending {
        Ending::Exited(code) => code,
        Ending::TimedOut | Ending::Stopped => {
            // Kill the probe and wait for it, so that dying probes don't pile up.
            tracing::debug!("health check for container {} taking too long", c.id);
            inst.send(FrameKind::Signal, &(libc_sigkill()).to_be_bytes())
                .await;
            let _ =
                tokio::time::timeout(Duration::from_secs(10), collect(&mut sub, &mut out)).await;
            if matches!(ending, Ending::Stopped) {
                return Probe::Stopped;
            }
            let limit = go_duration(timeout);
            let text = out.text();
            let msg = if text.is_empty() {
                format!("Health check exceeded timeout ({limit})")
            } else {
                format!("Health check exceeded timeout ({limit}): {text}")
            };
            return Probe::Done(-1, msg);
        }
    };
    let code = code.or_else(|| {
        inst.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .exit_code
    });
    match code {
        Some(code) => Probe::Done(code, out.text()),
        None => Probe::Failed(format!(
            "healthcheck for container {} has no exit code",
            c.id
        )),
    }
}

fn libc_sigkill() -> u32 {
    nix::sys::signal::Signal::SIGKILL as i32 as u32
}

/// Go's `time.Duration.String()`: `1ms`, `1.5s`, `2m0s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    fn frac(v: u128, prec: usize) -> String {
        if v == 0 {
            return String::new();
        }
        let s = format!("{v:0prec$}");
        format!(".{}", s.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, prec) = if ns < 1_000 {
            ("ns", 0)
        } else if ns < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let p = 10u128.pow(prec as u32);
        return format!("{}{}{unit}", ns / p, frac(ns % p, prec));
    }
    let secs = ns / 1_000_000_000;
    let f = frac(ns % 1_000_000_000, 9);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}{f}s")
    } else if m > 0 {
        format!("{m}m{s}{f}s")
    } else {
        format!("{s}{f}s")
    }
}

/// Go's `time.RFC3339Nano` as JSON writes a UTC time: trailing zeros of the fraction cut.
fn go_time(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ns = t.timestamp_subsec_nanos();
    if ns > 0 {
        let f = format!("{ns:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_print_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(1)), "1ms");
        assert_eq!(go_duration(ms(200)), "200ms");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_nanos(100)), "100ns");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn times_print_like_go() {
        let t = parse_time("2024-05-01T10:00:00.120000000Z").unwrap();
        assert_eq!(go_time(t), "2024-05-01T10:00:00.12Z");
        let t = parse_time("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(go_time(t), "2024-05-01T10:00:00Z");
    }

    #[test]
    fn validation_uses_moby_texts() {
        let check = |v: serde_json::Value, ver: &str| {
            validate(&mut Some(serde_json::from_value(v).unwrap()), ver).map_err(|e| e.message)
        };
        assert_eq!(
            check(json!({"Interval": 100}), "1.50").unwrap_err(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            check(json!({"Timeout": 5}), "1.50").unwrap_err(),
            "Timeout in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            check(json!({"Retries": -1}), "1.50").unwrap_err(),
            "Retries in Healthcheck cannot be negative"
        );
        assert_eq!(
            check(json!({"StartPeriod": 10}), "1.50").unwrap_err(),
            "StartPeriod in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            check(json!({"StartInterval": 10}), "1.50").unwrap_err(),
            "StartInterval in Healthcheck cannot be less than 1ms"
        );
        // Below 1.44 StartInterval is dropped, not checked.
        let mut v = Some(HealthConfig {
            start_interval: Some(10),
            ..Default::default()
        });
        validate(&mut v, "1.43").unwrap();
        assert_eq!(v, Some(HealthConfig::default()));
        check(
            json!({"Test": ["CMD", "true"], "Interval": 0, "Retries": 0}),
            "1.50",
        )
        .unwrap();
        validate(&mut None, "1.50").unwrap();
    }

    #[test]
    fn probes_follow_the_test_kind() {
        let mut cfg = berth_api::container::Config::default();
        assert_eq!(probe_command(&cfg), None);
        cfg.healthcheck = Some(serde_json::from_value(json!({"Test": []})).unwrap());
        assert_eq!(probe_command(&cfg), None);
        cfg.healthcheck = Some(serde_json::from_value(json!({"Test": ["NONE"]})).unwrap());
        assert_eq!(probe_command(&cfg), None);
        cfg.healthcheck =
            Some(serde_json::from_value(json!({"Test": ["CMD", "true", "x"]})).unwrap());
        assert_eq!(probe_command(&cfg), Some(vec!["true".into(), "x".into()]));
        cfg.healthcheck =
            Some(serde_json::from_value(json!({"Test": ["CMD-SHELL", "exit 1"]})).unwrap());
        assert_eq!(
            probe_command(&cfg),
            Some(vec!["/bin/sh".into(), "-c".into(), "exit 1".into()])
        );
        cfg.shell = Some(vec!["/bin/ash".into(), "-ec".into()]);
        assert_eq!(
            probe_command(&cfg),
            Some(vec!["/bin/ash".into(), "-ec".into(), "exit 1".into()])
        );
    }

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: format!("out {code}"),
        }
    }

    #[test]
    fn streaks_and_statuses() {
        let hc = HealthConfig {
            retries: Some(2),
            start_period: Some(10_000_000_000),
            ..Default::default()
        };
        let mut h = Health {
            status: STARTING.into(),
            ..Default::default()
        };
        // Failures in the start period don't count while starting.
        apply_result(&mut h, result(1), &hc, Some(Duration::from_secs(1)));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        apply_result(&mut h, result(1), &hc, Some(Duration::from_secs(11)));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        apply_result(&mut h, result(0), &hc, Some(Duration::from_secs(12)));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        // Once healthy, the start period no longer shields failures.
        apply_result(&mut h, result(1), &hc, Some(Duration::from_secs(1)));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
        apply_result(&mut h, result(2), &hc, Some(Duration::from_secs(1)));
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        for _ in 0..4 {
            apply_result(&mut h, result(3), &hc, None);
        }
        let log = h.log.clone();
        assert_eq!(log.len(), MAX_LOG_ENTRIES);
        assert_eq!(log[0].exit_code, 2);
        let v = serde_json::to_value(Health::default()).unwrap();
        assert_eq!(v, json!({"Status": "", "FailingStreak": 0, "Log": []}));
    }

    #[test]
    fn output_is_limited() {
        let mut b = LimitedBuffer::default();
        b.write(&[b'a'; 4000]);
        b.write(&[b'b'; 200]);
        let t = b.text();
        assert_eq!(t.len(), MAX_OUTPUT_LEN + 3);
        assert!(t.ends_with("bb..."));
    }
}
