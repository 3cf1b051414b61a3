//! The berth daemon: owns all state and serves the Docker Engine API.
#![recursion_limit = "256"]
//!
//! Every client — our CLI, the docker CLI, docker-py, compose — reaches the engine
//! through the HTTP router in `server`; handlers live next to the object they act
//! on (`containers/`, `images/`, `system/`), and all metadata goes through the
//! `store::Store` trait.

pub mod config;
pub mod containers;
pub mod daemon;
pub mod error;
pub mod events;
pub mod ids;
pub mod images;
pub mod networks;
pub mod phase;
pub mod runtimes;
pub mod server;
pub mod state_dirs;
pub mod store;
pub mod system;
pub mod userns;
pub mod volumes;

pub use config::DaemonConfig;
pub use error::{DaemonError, Result};

/// Entry point of `berth daemon [dockerd flags]`; returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let config = match config::DaemonConfig::from_args(args) {
        Ok(c) => c,
        Err(config::ConfigError::Help(text)) => {
            print!("{text}");
            return 0;
        }
        Err(e) => {
            eprintln!("berth daemon: {e}");
            return 1;
        }
    };
    init_logging(&config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth daemon: cannot start runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(daemon::run(config)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            1
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("berth={level},berth_daemon={level}"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
