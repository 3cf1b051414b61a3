//! End-to-end tests of `berth monitor` through the real binary (`berth monitor ...`).
//! The cases live in berth-runtime (tests/e2e/cases.rs) so that the runtime can also be
//! tested on its own. They need root, /bin/busybox and cgroups; skipped when not root.

fn monitor_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    c.arg("monitor");
    c
}

include!("../../berth-runtime/tests/e2e/cases.rs");

fn root() -> bool {
    berth_testkit::require_root()
}

macro_rules! e2e {
    ($($name:ident => $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if root() {
                    $case();
                }
            }
        )*
    };
}

e2e! {
    runtime_echo_and_log => case_echo_and_log,
    runtime_exit_code => case_exit_code,
    runtime_namespaces_caps_masks => case_namespaces,
    runtime_oom_killed => case_oom,
    runtime_tty => case_tty,
    runtime_stdin => case_stdin,
    runtime_exec_and_reconnect => case_exec_and_reconnect,
    runtime_no_fd_leak => case_no_fd_leak,
    runtime_start_errors => case_start_errors,
    runtime_init => case_init,
    runtime_binds_user_readonly => case_binds_user_readonly,
}
