//! `berth run` and `berth create`: docker's exact flow — create (pulling through the
//! daemon on a 404), attach (hijacked) before start, wait registered before start,
//! start, resize, stream until the output ends, exit with the container's code.

use super::super::{client_error_text, term, CliResult, Ctx, Fail};
use super::container_opts::{split_at_image, ContainerOpts};
use super::streams::{self, Ended, ResizeTarget};
use berth_api::container::CreateRequest;
use berth_client::AttachOptions;
use clap::{ArgAction, CommandFactory, Parser};

#[derive(Parser, Debug)]
#[command(
    name = "run",
    bin_name = "berth run",
    override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    about = "Create and run a new container from an image",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct RunArgs {
    #[command(flatten)]
    opts: ContainerOpts,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    rm: Option<bool>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    #[arg(hide = true)]
    image: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "create",
    bin_name = "berth create",
    override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    about = "Create a new container",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct CreateArgs {
    #[command(flatten)]
    opts: ContainerOpts,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    rm: Option<bool>,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    #[arg(hide = true)]
    image: Vec<String>,
}

/// The error docker prints for a failed run/create step: `berth: <msg>` + hint.
fn run_fail(cmd: &str, msg: &str, code: i32) -> Fail {
    Fail::new(
        format!("berth: {msg}\n\nRun 'berth {cmd} --help' for more information"),
        code,
    )
}

/// Splits flags from IMAGE [COMMAND...] and parses the flags.
fn parse_split<T: Parser + CommandFactory>(
    args: &[String],
) -> Result<(T, Option<String>, Vec<String>), Fail> {
    let idx = split_at_image(&T::command(), args);
    let mut flag_args: Vec<String> = args[..idx].to_vec();
    if flag_args.last().map(String::as_str) == Some("--") {
        flag_args.pop();
    }
    let t: T = super::parse(&flag_args)?;
    let image = args.get(idx).cloned();
    let cmd = args
        .get(idx + 1..)
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    Ok((t, image, cmd))
}

/// `busybox` → `busybox:latest`; references with a tag or digest stay as they are.
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Splits `repo:tag` (a port in the registry host is not a tag).
pub fn split_tag(reference: &str) -> (String, Option<String>) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo.to_string(), Some(digest.to_string()));
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (reference.to_string(), None),
    }
}

async fn pull(
    ctx: &Ctx,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
    cmd: &str,
) -> Result<(), Fail> {
    let (repo, tag) = split_tag(&with_default_tag(image));
    let auth = super::super::credentials::auth_header_for_image(image);
    let stream = ctx
        .client
        .pull_image(&repo, tag.as_deref(), platform, auth.as_deref())
        .await
        .map_err(|e| run_fail(cmd, &client_error_text(&e), 125))?;
    let mut err = std::io::stderr();
    super::progress::print_progress(stream, &mut err, quiet, super::progress::View::stderr())
        .await
        .map_err(|f| run_fail(cmd, &f.msg, 125))?;
    Ok(())
}

/// Creates the container, pulling through the daemon when the image is missing, as
/// `docker run`/`docker create` do (the pull error ends the command with 125).
async fn create_container(
    ctx: &Ctx,
    opts: &ContainerOpts,
    req: &CreateRequest,
    cmd: &str,
) -> Result<String, Fail> {
    if let Some(f) = &opts.cidfile {
        if std::path::Path::new(f).exists() {
            return Err(run_fail(cmd, &format!("container ID file found, make sure the other container isn't running or delete {f}"), 125));
        }
    }
    let image = req.config.image.clone();
    if opts.pull == "always" {
        pull(ctx, &image, opts.platform.as_deref(), opts.quiet, cmd).await?;
    }
    let platform = opts.platform.as_deref();
    let resp = match ctx
        .client
        .create_container(opts.name.as_deref(), platform, req)
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_not_found() && opts.pull != "never" && e.to_string().contains("image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                with_default_tag(&image)
            );
            pull(ctx, &image, platform, opts.quiet, cmd).await?;
            ctx.client
                .create_container(opts.name.as_deref(), platform, req)
                .await
                .map_err(|e| run_fail(cmd, &client_error_text(&e), 125))?
        }
        Err(e) if e.is_connect() => return Err(e.into()),
        Err(e) => return Err(run_fail(cmd, &client_error_text(&e), 125)),
    };
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(f) = &opts.cidfile {
        std::fs::write(f, &resp.id).map_err(|e| {
            run_fail(
                cmd,
                &format!("failed to write the container ID to the file: {e}"),
                125,
            )
        })?;
    }
    Ok(resp.id)
}

/// docker's mapping of a start failure to an exit code: 127 when the command was
/// not found, 126 when it could not be invoked, 125 otherwise.
pub fn start_error_code(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not found") && m.contains("exec")
    {
        127
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("exec format error")
    {
        126
    } else {
        125
    }
}

pub async fn create(ctx: &Ctx, args: &[String]) -> CliResult {
    let (a, image, cmd) = parse_split::<CreateArgs>(args)?;
    let Some(image) = image else {
        return Err(Fail::new("berth: 'berth create' requires at least 1 argument\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth create --help' for more information", 125));
    };
    let mut req = a.opts.to_create(&image, &cmd, true)?;
    if let Some(h) = req.host_config.as_mut() {
        h.auto_remove = a.rm.unwrap_or(false);
    }
    req.config.attach_stdin = a.opts.interactive;
    req.config.attach_stdout = true;
    req.config.attach_stderr = true;
    let id = create_container(ctx, &a.opts, &req, "create").await?;
    println!("{id}");
    Ok(0)
}

pub async fn run(ctx: &Ctx, args: &[String]) -> CliResult {
    let (a, image, cmd) = parse_split::<RunArgs>(args)?;
    let Some(image) = image else {
        return Err(Fail::new("berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information", 125));
    };
    let o = &a.opts;
    let auto_remove = a.rm.unwrap_or(false);
    if a.detach && !o.attach.is_empty() {
        return Err(run_fail("run", "Conflicting options: -a and -d", 125));
    }
    if auto_remove
        && o.restart
            .as_deref()
            .is_some_and(|r| r != "no" && !r.is_empty())
    {
        return Err(run_fail(
            "run",
            "Conflicting options: --restart and --rm",
            125,
        ));
    }
    let detach_keys = match &a.detach_keys {
        Some(k) => Some(term::parse_detach_keys(k).map_err(|e| run_fail("run", &e, 125))?),
        None => Some(term::parse_detach_keys(term::DEFAULT_DETACH_KEYS).unwrap_or_default()),
    };
    let mut req = o.to_create(&image, &cmd, a.detach)?;
    if let Some(h) = req.host_config.as_mut() {
        h.auto_remove = auto_remove;
    }
    let tty = o.tty;
    let attach_stdin = req.config.attach_stdin;
    if tty && attach_stdin && !term::stdin_is_tty() {
        return Err(Fail::new("the input device is not a TTY", 1));
    }
    let id = create_container(ctx, o, &req, "run").await?;
    let client = &ctx.client;

    if a.detach {
        if let Err(e) = client.start_container(&id, None).await {
            let msg = client_error_text(&e);
            return Err(run_fail("run", &msg, start_error_code(&msg)));
        }
        println!("{id}");
        return Ok(0);
    }

    let (attach_stdout, attach_stderr) = (req.config.attach_stdout, req.config.attach_stderr);
    let hijack = if attach_stdin || attach_stdout || attach_stderr {
        let ao = AttachOptions {
            stdin: attach_stdin,
            stdout: attach_stdout,
            stderr: attach_stderr,
            logs: false,
            detach_keys: a.detach_keys.clone(),
        };
        Some(
            client
                .attach(&id, &ao)
                .await
                .map_err(|e| run_fail("run", &client_error_text(&e), 125))?,
        )
    } else {
        None
    };
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = client
        .wait_begin(&id, Some(condition))
        .await
        .map_err(|e| run_fail("run", &client_error_text(&e), 125))?;

    let _raw = if tty && attach_stdin && term::stdin_is_tty() {
        use std::os::fd::AsFd;
        term::RawGuard::enable(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    if let Err(e) = client.start_container(&id, None).await {
        drop(_raw);
        if auto_remove {
            // docker waits for the removal before reporting; bounded so that a
            // daemon that never removes cannot hang us.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wait.finish()).await;
        }
        let msg = client_error_text(&e);
        return Err(run_fail("run", &msg, start_error_code(&msg)));
    }
    if tty && term::stdout_is_tty() {
        streams::monitor_tty_size(client, ResizeTarget::Container(id.clone())).await;
    }
    if a.sig_proxy && !tty {
        streams::proxy_signals(client, &id);
    }
    if let Some(h) = hijack {
        let ended =
            streams::pump(h, tty, attach_stdin, if tty { detach_keys } else { None }).await?;
        if ended == Ended::Detached {
            return Ok(0);
        }
    }
    drop(_raw);
    match wait.finish().await {
        Ok(w) => {
            if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
                eprintln!("berth: {}", e.message);
                return Ok(125);
            }
            Ok(w.status_code as i32)
        }
        Err(e) if e.is_not_found() && auto_remove => Ok(0),
        Err(e) => Err(run_fail("run", &client_error_text(&e), 125)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            with_default_tag("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(with_default_tag("x@sha256:ab"), "x@sha256:ab");
        assert_eq!(
            split_tag("localhost:5000/x:1"),
            ("localhost:5000/x".into(), Some("1".into()))
        );
        assert_eq!(
            split_tag("localhost:5000/x"),
            ("localhost:5000/x".into(), None)
        );
    }

    #[test]
    fn start_codes() {
        assert_eq!(
            start_error_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("exec /etc: permission denied"), 126);
        assert_eq!(start_error_code("cgroup failure"), 125);
    }

    #[test]
    fn image_split() {
        let args: Vec<String> = [
            "-it",
            "--name",
            "x",
            "-e",
            "A=1",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (a, image, cmd) = parse_split::<RunArgs>(&args).unwrap();
        assert!(a.opts.interactive && a.opts.tty);
        assert_eq!(a.opts.name.as_deref(), Some("x"));
        assert_eq!(image.as_deref(), Some("busybox"));
        assert_eq!(cmd, ["sh", "-c", "echo -n hi"]);
        let args: Vec<String> = ["--rm", "-m", "64m", "--cpus=1.5", "busybox", "-x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (a, image, cmd) = parse_split::<RunArgs>(&args).unwrap();
        assert_eq!(a.rm, Some(true));
        assert_eq!(a.opts.memory, Some(64 << 20));
        assert_eq!(a.opts.cpus, Some(1_500_000_000));
        assert_eq!(
            (image.as_deref(), cmd.as_slice()),
            (Some("busybox"), &["-x".to_string()][..])
        );
        let e =
            parse_split::<RunArgs>(&["--bogus".to_string(), "busybox".to_string()]).unwrap_err();
        assert_eq!(e.code, 125);
        assert!(e.msg.starts_with("unknown flag: --bogus"), "{}", e.msg);
    }
}
