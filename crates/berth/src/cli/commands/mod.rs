//! One module per command (or per family of small commands) and the shared plumbing:
//! clap parsing with docker's error texts, argument-count checks, batch verbs.

mod archive;
mod attach;
mod bootstrap;
mod container_opts;
mod cp;
mod events;
mod exec;
mod images;
mod inspect;
mod lifecycle;
mod login;
mod logs;
mod network;
mod port;
mod progress;
mod ps;
mod pull;
mod run;
mod search;
mod stats;
mod streams;
mod system;
mod top;
mod update;
mod volume;

use super::{CliResult, Ctx, Fail};
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Routes `berth <cmd> args...`, including the `container`/`image`/`system`/`network` groups.
pub async fn dispatch(ctx: &Ctx, cmd: &str, args: &[String]) -> CliResult {
    match cmd {
        "run" => run::run(ctx, args).await,
        "create" => run::create(ctx, args).await,
        "start" => lifecycle::start(ctx, args).await,
        "stop" => lifecycle::stop(ctx, args).await,
        "kill" => lifecycle::kill(ctx, args).await,
        "restart" => lifecycle::restart(ctx, args).await,
        "rm" => lifecycle::rm(ctx, args).await,
        "pause" => lifecycle::pause(ctx, args).await,
        "unpause" => lifecycle::unpause(ctx, args).await,
        "wait" => lifecycle::wait(ctx, args).await,
        "rename" => lifecycle::rename(ctx, args).await,
        "ps" => ps::ps(ctx, args).await,
        "inspect" => inspect::inspect(ctx, args).await,
        "logs" => logs::logs(ctx, args).await,
        "attach" => attach::attach(ctx, args).await,
        "exec" => exec::exec(ctx, args).await,
        "top" => top::top(ctx, args).await,
        "stats" => stats::stats(ctx, args).await,
        "update" => update::update(ctx, args).await,
        "export" => archive::export(ctx, args).await,
        "cp" => cp::cp(ctx, args).await,
        "commit" => cp::commit(ctx, args).await,
        "diff" => cp::diff(ctx, args).await,
        "images" => images::images(ctx, args).await,
        "rmi" => images::rmi(ctx, args).await,
        "tag" => images::tag(ctx, args).await,
        "history" => images::history(ctx, args).await,
        "save" => archive::save(ctx, args).await,
        "load" => archive::load(ctx, args).await,
        "pull" => pull::pull(ctx, args).await,
        "push" => pull::push(ctx, args).await,
        "search" => search::search(ctx, args).await,
        "login" => login::login(ctx, args).await,
        "logout" => login::logout(ctx, args).await,
        "import" => archive::import(ctx, args).await,
        "info" => system::info(ctx, args).await,
        "version" => system::version(ctx, args).await,
        "events" => events::events(ctx, args).await,
        "port" => port::port(ctx, args).await,
        "container" => group(ctx, "container", args).await,
        "image" => group(ctx, "image", args).await,
        "system" => group(ctx, "system", args).await,
        "network" => group(ctx, "network", args).await,
        "volume" => group(ctx, "volume", args).await,
        other => Err(Fail::new(
            format!(
                "berth: unknown command: berth {other}\n\nRun 'berth --help' for more information"
            ),
            1,
        )),
    }
}

const CONTAINER_HELP: &str = "
Usage:  berth container COMMAND

Manage containers

Commands:
  attach      Attach local standard input, output, and error streams to a running container
  commit      Create a new image from a container's changes
  cp          Copy files/folders between a container and the local filesystem
  create      Create a new container
  diff        Inspect changes to files or directories on a container's filesystem
  exec        Execute a command in a running container
  export      Export a container's filesystem as a tar archive
  inspect     Display detailed information on one or more containers
  kill        Kill one or more running containers
  logs        Fetch the logs of a container
  ls          List containers
  pause       Pause all processes within one or more containers
  port        List port mappings or a specific mapping for the container
  prune       Remove all stopped containers
  rename      Rename a container
  restart     Restart one or more containers
  rm          Remove one or more containers
  run         Create and run a new container from an image
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  top         Display the running processes of a container
  unpause     Unpause all processes within one or more containers
  update      Update configuration of one or more containers
  wait        Block until one or more containers stop, then print their exit codes

Run 'berth container COMMAND --help' for more information on a command.
";

const IMAGE_HELP: &str = "
Usage:  berth image COMMAND

Manage images

Commands:
  bootstrap   Build a base image offline (berth image bootstrap busybox)
  history     Show the history of an image
  import      Import the contents from a tarball to create a filesystem image
  inspect     Display detailed information on one or more images
  load        Load an image from a tar archive or STDIN
  ls          List images
  prune       Remove unused images
  pull        Download an image from a registry
  push        Upload an image to a registry
  rm          Remove one or more images
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE

Run 'berth image COMMAND --help' for more information on a command.
";

const SYSTEM_HELP: &str = "
Usage:  berth system COMMAND

Manage berth

Commands:
  df          Show berth disk usage
  events      Get real time events from the server
  info        Display system-wide information

Run 'berth system COMMAND --help' for more information on a command.
";

async fn group(ctx: &Ctx, group: &str, args: &[String]) -> CliResult {
    let help = match group {
        "container" => CONTAINER_HELP,
        "image" => IMAGE_HELP,
        "network" => network::NETWORK_HELP,
        "volume" => volume::VOLUME_HELP,
        _ => SYSTEM_HELP,
    };
    let Some(sub) = args.first() else {
        print!("{help}");
        return Ok(0);
    };
    let rest = &args[1..];
    let r = match (group, sub.as_str()) {
        (_, "--help" | "-h" | "help") => {
            print!("{help}");
            return Ok(0);
        }
        ("container", "ls" | "list" | "ps") => ps::ps(ctx, rest).await,
        ("container", "rm" | "remove") => lifecycle::rm(ctx, rest).await,
        ("container", "inspect") => inspect::inspect_typed(ctx, rest, "container").await,
        ("container", "prune") => lifecycle::prune(ctx, rest).await,
        ("container", s @ ("run" | "create" | "start" | "stop" | "kill" | "restart" | "pause" | "unpause" | "wait" | "rename" | "logs" | "attach" | "exec" | "top" | "stats" | "update" | "export" | "port" | "cp" | "commit" | "diff")) => {
            Box::pin(dispatch(ctx, s, rest)).await
        }
        ("image", "ls" | "list") => images::images(ctx, rest).await,
        ("image", "rm" | "remove") => images::rmi(ctx, rest).await,
        ("image", "inspect") => inspect::inspect_typed(ctx, rest, "image").await,
        ("image", "prune") => images::prune(ctx, rest).await,
        ("image", "bootstrap") => bootstrap::bootstrap(ctx, rest).await,
        ("image", s @ ("tag" | "save" | "load" | "import" | "history" | "pull" | "push")) => Box::pin(dispatch(ctx, s, rest)).await,
        ("network", "create") => network::create(ctx, rest).await,
        ("network", "ls" | "list") => network::ls(ctx, rest).await,
        ("network", "inspect") => network::inspect(ctx, rest).await,
        ("network", "rm" | "remove") => network::rm(ctx, rest).await,
        ("network", "prune") => network::prune(ctx, rest).await,
        ("network", "connect") => network::connect(ctx, rest).await,
        ("network", "disconnect") => network::disconnect(ctx, rest).await,
        ("volume", "create") => volume::create(ctx, rest).await,
        ("volume", "ls" | "list") => volume::ls(ctx, rest).await,
        ("volume", "inspect") => volume::inspect(ctx, rest).await,
        ("volume", "rm" | "remove") => volume::rm(ctx, rest).await,
        ("volume", "prune") => volume::prune(ctx, rest).await,
        ("volume", "export") => volume::export(ctx, rest).await,
        ("volume", "import") => volume::import(ctx, rest).await,
        ("system", "df") => system::df(ctx, rest).await,
        ("system", "prune") => system::prune(ctx, rest).await,
        ("system", s @ ("info" | "events")) => Box::pin(dispatch(ctx, s, rest)).await,
        (_, other) => Err(Fail::new(
            format!("berth: unknown command: berth {group} {other}\n\nRun 'berth {group} --help' for more information"),
            1,
        )),
    };
    r
}

/// Parses a command's flags with clap, printing help or docker-style flag errors
/// (`unknown flag: --x` + usage, exit 125) as docker's cobra commands do.
pub fn parse<T: clap::Parser>(args: &[String]) -> Result<T, Fail> {
    let cmd = T::command();
    let bin = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string();
    let usage = cmd
        .get_overridden_usage()
        .map(|u| u.to_string())
        .unwrap_or_default();
    let argv = std::iter::once(bin.clone()).chain(args.iter().cloned());
    match T::try_parse_from(argv) {
        Ok(t) => Ok(t),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                Err(Fail::silent(0))
            }
            _ => {
                let msg = flag_error_text(&e);
                Err(Fail::new(
                    format!("{msg}\n\nUsage:  {usage}\n\nRun '{bin} --help' for more information"),
                    125,
                ))
            }
        },
    }
}

fn ctx_str(e: &clap::Error, k: ContextKind) -> Option<String> {
    match e.get(k)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// Turns a clap error into cobra/pflag's wording.
fn flag_error_text(e: &clap::Error) -> String {
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let a = ctx_str(e, ContextKind::InvalidArg).unwrap_or_default();
            let a = a.split('=').next().unwrap_or("").to_string();
            if a.starts_with("--") {
                format!("unknown flag: {a}")
            } else {
                let c = a.chars().nth(1).unwrap_or('?');
                format!("unknown shorthand flag: '{c}' in {a}")
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let flag = ctx_str(e, ContextKind::InvalidArg).unwrap_or_default();
            let flag = flag.split(' ').next().unwrap_or("").to_string();
            match ctx_str(e, ContextKind::InvalidValue) {
                Some(v) if !v.is_empty() => {
                    let reason = e
                        .source()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "invalid value".into());
                    format!("invalid argument \"{v}\" for \"{flag}\" flag: {reason}")
                }
                _ => format!("flag needs an argument: {flag}"),
            }
        }
        _ => {
            let s = e.kind().as_str().unwrap_or("invalid arguments").to_string();
            let full = e.to_string();
            let first = full
                .lines()
                .next()
                .unwrap_or(&s)
                .trim_start_matches("error: ")
                .to_string();
            first
        }
    }
}

use std::error::Error as _;

/// How many positional arguments a command takes.
pub enum Arity {
    Min(usize),
    Max(usize),
    Exact(usize),
    None,
}

/// Checks the positional count, failing with docker's texts (exit 1).
pub fn arity<T: clap::CommandFactory>(args: &[String], want: Arity) -> Result<(), Fail> {
    let cmd = T::command();
    let bin = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string();
    let usage = cmd
        .get_overridden_usage()
        .map(|u| u.to_string())
        .unwrap_or_default();
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let (ok, what, verb) = match want {
        Arity::Min(n) => (
            args.len() >= n,
            format!("requires at least {n} {}", plural(n)),
            "See",
        ),
        Arity::Max(n) => (
            args.len() <= n,
            format!("requires at most {n} {}", plural(n)),
            "See",
        ),
        Arity::Exact(n) => (
            args.len() == n,
            format!("requires {n} {}", plural(n)),
            "Run",
        ),
        Arity::None => (args.is_empty(), "accepts no arguments".to_string(), "Run"),
    };
    if ok {
        return Ok(());
    }
    Err(Fail::new(
        format!("berth: '{bin}' {what}\n\nUsage:  {usage}\n\n{verb} '{bin} --help' for more information"),
        1,
    ))
}

/// Applies `f` to each name, printing the name on success and the error otherwise,
/// then exits 1 if any failed (docker's `rm`, `stop`, `kill`, ... behaviour).
pub async fn each_name<'a, F, Fut>(names: &'a [String], f: F) -> CliResult
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), berth_client::Error>>,
{
    each_name_with(names, f, |n, ()| println!("{n}")).await
}

/// Like `each_name`, printing each success with `show`: docker's multi-name verbs report
/// every name, print every error, and exit 1 at the end if any failed.
pub async fn each_name_with<'a, T, F, Fut>(
    names: &'a [String],
    mut f: F,
    show: impl Fn(&str, T),
) -> CliResult
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<T, berth_client::Error>>,
{
    let mut failed = false;
    for n in names {
        match f(n).await {
            Ok(v) => show(n, v),
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => {
                eprintln!("{}", super::client_error_text(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Parses repeated `--filter key=value` flags.
pub fn filters(list: &[String]) -> Result<berth_api::filters::Filters, Fail> {
    let mut f = berth_api::filters::Filters::default();
    for x in list {
        f.add_cli(x).map_err(|e| Fail::new(e, 125))?;
    }
    Ok(f)
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
