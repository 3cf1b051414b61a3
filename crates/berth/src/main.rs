//! berth: one binary for the CLI, the daemon (`berth daemon`) and the per-container
//! monitor (`berth monitor`, hidden, spawned by the daemon).

mod cli;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The monitor must start single-threaded, before any runtime or thread exists:
    // it forks the container.
    if args.get(1).map(String::as_str) == Some("monitor") {
        std::process::exit(berth_runtime::monitor::main(args[2..].to_vec()));
    }
    std::process::exit(cli::main(args));
}
