//! The docker-compatible command line (and `berth daemon`).

/// Runs the CLI; returns the process exit code.
pub fn main(_args: Vec<String>) -> i32 {
    0
}
