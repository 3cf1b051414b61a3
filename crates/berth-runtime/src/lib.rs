//! berth-runtime

pub mod monitor {
    //! The per-container monitor (placeholder until the runtime lands).

    /// Entry point of `berth monitor`; returns the exit code.
    pub fn main(_args: Vec<String>) -> i32 {
        1
    }
}
