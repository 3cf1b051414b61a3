//! End-to-end tests of `berth monitor` that need no other crate: this test binary re-execs
//! itself as the monitor (`<self> monitor ...`). Run as root.

fn monitor_command() -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.arg("monitor");
    c
}

include!("e2e/cases.rs");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("monitor") {
        std::process::exit(berth_runtime::monitor::main(args[2..].to_vec()));
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !berth_testkit::require_root() {
        return;
    }
    let mut failed = 0;
    let handles: Vec<_> = CASES
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .map(|&(name, case)| (name, std::thread::spawn(case)))
        .collect();
    for (name, h) in handles {
        match h.join() {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        println!("{failed} failed");
        std::process::exit(1);
    }
}
