//! The docker-compatible command line (and `berth daemon`).
//!
//! Global flags are parsed by hand, as docker's root command does, so that
//! `berth -H unix:///x.sock ps` and `berth --version` behave like docker; every
//! subcommand then parses its own flags with clap (see `commands::parse`), with
//! errors and exit codes rewritten into docker's words.

mod commands;
mod credentials;
mod envfile;
mod format;
mod term;
mod units;

use berth_client::Client;

/// A failed command: what to print on stderr (may be empty) and the exit code.
#[derive(Debug)]
pub struct Fail {
    pub msg: String,
    pub code: i32,
}

impl Fail {
    pub fn new(msg: impl Into<String>, code: i32) -> Fail {
        Fail {
            msg: msg.into(),
            code,
        }
    }
    /// A failure whose message was already printed.
    pub fn silent(code: i32) -> Fail {
        Fail {
            msg: String::new(),
            code,
        }
    }
}

/// The text docker prints for a client error: `Error response from daemon: ...` for API
/// errors, the connect hint for an unreachable daemon.
pub fn client_error_text(e: &berth_client::Error) -> String {
    match e {
        berth_client::Error::Api(a) => format!("Error response from daemon: {}", a.message),
        other => other.to_string(),
    }
}

impl From<berth_client::Error> for Fail {
    fn from(e: berth_client::Error) -> Fail {
        Fail::new(client_error_text(&e), 1)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::new(e.to_string(), 1)
    }
}

pub type CliResult = Result<i32, Fail>;

/// What every command gets: the API client.
pub struct Ctx {
    pub client: Client,
}

const ROOT_USAGE: &str = "Usage:  berth [OPTIONS] COMMAND

A self-sufficient runtime for containers, compatible with Docker

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  version     Show the berth version information
  info        Display system-wide information

Management Commands:
  container   Manage containers
  image       Manage images
  network     Manage networks
  system      Manage berth
  volume      Manage volumes
  daemon      Run the berth daemon (dockerd-compatible flags)

Commands:
  attach      Attach local standard input, output, and error streams to a running container
  commit      Create a new image from a container's changes
  cp          Copy files/folders between a container and the local filesystem
  create      Create a new container
  diff        Inspect changes to files or directories on a container's filesystem
  events      Get real time events from the server
  export      Export a container's filesystem as a tar archive
  history     Show the history of an image
  import      Import the contents from a tarball to create a filesystem image
  inspect     Return low-level information on berth objects
  kill        Kill one or more running containers
  load        Load an image from a tar archive or STDIN
  login       Authenticate to a registry
  logout      Log out from a registry
  logs        Fetch the logs of a container
  pause       Pause all processes within one or more containers
  port        List port mappings or a specific mapping for the container
  pull        Download an image from a registry
  push        Upload an image to a registry
  rename      Rename a container
  restart     Restart one or more containers
  rm          Remove one or more containers
  rmi         Remove one or more images
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  search      Search Docker Hub for images
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  top         Display the running processes of a container
  unpause     Unpause all processes within one or more containers
  update      Update configuration of one or more containers
  wait        Block until one or more containers stop, then print their exit codes

Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (env BERTH_HOST, DOCKER_HOST)
  -l, --log-level string   Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\") (default \"info\")
  -v, --version            Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
";

/// Runs the CLI; returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let mut host: Option<String> = None;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let value_of = |i: &mut usize| -> Option<String> {
            *i += 1;
            args.get(*i).cloned()
        };
        match a {
            "-H" | "--host" => match value_of(&mut i) {
                Some(v) => host = Some(v),
                None => return flag_error(&format!("flag needs an argument: {a}")),
            },
            "-l" | "--log-level" | "--config" | "-c" | "--context" | "--tlscacert"
            | "--tlscert" | "--tlskey" => {
                if value_of(&mut i).is_none() {
                    return flag_error(&format!("flag needs an argument: {a}"));
                }
            }
            "-D" | "--debug" | "--tls" | "--tlsverify" => {}
            "-v" | "--version" => {
                println!(
                    "berth version {}, build berth",
                    berth_api::version::BERTH_VERSION
                );
                return 0;
            }
            "-h" | "--help" | "help" if i + 1 >= args.len() || a != "help" => {
                print!("\n{ROOT_USAGE}");
                return 0;
            }
            _ if a.starts_with("--host=") => host = Some(a["--host=".len()..].to_string()),
            _ if a.starts_with("-H") && a.len() > 2 => {
                host = Some(a[2..].trim_start_matches('=').to_string())
            }
            _ if a.starts_with("--") && a.contains('=') => {
                let name = &a[..a.find('=').unwrap_or(a.len())];
                if !matches!(
                    name,
                    "--log-level"
                        | "--config"
                        | "--context"
                        | "--tlscacert"
                        | "--tlscert"
                        | "--tlskey"
                ) {
                    return flag_error(&format!("unknown flag: {name}"));
                }
            }
            _ if a.starts_with('-') && a != "-" => {
                let msg = if a.starts_with("--") {
                    format!("unknown flag: {a}")
                } else {
                    format!("unknown shorthand flag: '{}' in {a}", &a[1..2])
                };
                return flag_error(&msg);
            }
            _ => break,
        }
        i += 1;
    }
    let Some(cmd) = args.get(i).cloned() else {
        print!("\n{ROOT_USAGE}");
        return 0;
    };
    let rest: Vec<String> = args[i + 1..].to_vec();
    if cmd == "daemon" {
        return berth_daemon::main(rest);
    }
    if cmd == "help" {
        // `berth help run` == `berth run --help`
        let mut a = rest.clone();
        let c = if a.is_empty() {
            return main(vec![args[0].clone(), "--help".into()]);
        } else {
            a.remove(0)
        };
        a.push("--help".into());
        return main([vec![args[0].clone(), c], a].concat());
    }
    let client = match Client::from_env(host.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: {e}");
            return 1;
        }
    };
    let ctx = Ctx { client };
    let result = rt.block_on(commands::dispatch(&ctx, &cmd, &rest));
    // Reads of stdin may still be blocked in a worker thread; don't wait for them.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("{}", f.msg);
            }
            f.code
        }
    }
}

fn flag_error(msg: &str) -> i32 {
    eprintln!(
        "{msg}\n\nUsage:  berth [OPTIONS] COMMAND\n\nRun 'berth --help' for more information"
    );
    125
}
