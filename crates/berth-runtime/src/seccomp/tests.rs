//! The compiled default profile, run on synthetic `seccomp_data` by the test interpreter.

use super::bpf::{interp, Insn, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_LOG, RET_TRAP};
use super::*;

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

fn docker_caps() -> Vec<String> {
    crate::defaults::DEFAULT_CAPS
        .iter()
        .map(|c| format!("CAP_{}", c.trim_start_matches("CAP_")))
        .collect()
}

fn prog(caps: &[String], arch: Arch) -> Vec<Insn> {
    compile_for(&default_for(caps, arch), arch)
        .unwrap()
        .instructions()
        .to_vec()
}

fn nr(arch: Arch, name: &str) -> u32 {
    arch.syscall(name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn default_profile_is_dockers() {
    let p = default_profile();
    let rules = p.syscalls.as_ref().unwrap();
    assert_eq!(rules.len(), 31);
    assert!(rules[0].names.as_ref().unwrap().len() > 300);
    assert_eq!(p.default_errno_ret, Some(1));
    // Unchanged bytes: the file starts as moby's does and is not reformatted.
    assert!(DEFAULT_PROFILE_JSON.starts_with("{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\""));
}

#[test]
fn default_x86_64_allows_denies_and_answers_enosys() {
    let a = Arch::X86_64;
    let p = prog(&docker_caps(), a);
    let run = |name: &str, args: [u64; 6]| interp::run(&p, a.audit(), nr(a, name), args);
    let none = [0u64; 6];
    for ok in [
        "read",
        "write",
        "openat",
        "execve",
        "mkdir",
        "getpid",
        "arch_prctl",
    ] {
        assert_eq!(run(ok, none), RET_ALLOW, "{ok}");
    }
    for denied in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "kexec_load",
        "init_module",
        "finit_module",
        "bpf",
        "perf_event_open",
        "add_key",
        "keyctl",
        "request_key",
        "swapon",
        "reboot",
        "ptrace",
        "open_by_handle_at",
        "syslog",
        "settimeofday",
        "clock_settime",
        "sethostname",
    ] {
        // ptrace is allowed from kernel 4.8 on; the others never without a cap.
        if denied == "ptrace" {
            continue;
        }
        assert_eq!(run(denied, none), EPERM, "{denied}");
    }
    assert_eq!(run("clone3", none), ENOSYS);
    // clone: no namespace flags → allowed; CLONE_NEWNS / CLONE_NEWUSER → denied.
    let sigchld_vm = (libc::SIGCHLD | libc::CLONE_VM | libc::CLONE_SETTLS) as u64;
    assert_eq!(run("clone", [sigchld_vm, 0, 0, 0, 0, 0]), RET_ALLOW);
    for ns in [libc::CLONE_NEWNS, libc::CLONE_NEWUSER, libc::CLONE_NEWNET] {
        assert_eq!(
            run("clone", [libc::SIGCHLD as u64 | ns as u64, 0, 0, 0, 0, 0]),
            EPERM
        );
    }
    // socket: everything but AF_VSOCK.
    assert_eq!(
        run("socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        run("socket", [libc::AF_PACKET as u64, 3, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(run("socket", [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
    // personality: only the listed values, compared on all 64 bits.
    for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(run("personality", [v, 0, 0, 0, 0, 0]), RET_ALLOW, "{v:#x}");
    }
    for v in [1u64, 0x0040_0000, 0xffff_ffff_ffff_ffff, 0x1_0000_0000] {
        assert_eq!(run("personality", [v, 0, 0, 0, 0, 0]), EPERM, "{v:#x}");
    }
    // x32 ABI, syscalls newer than the table, other ABIs.
    assert_eq!(interp::run(&p, a.audit(), 0x4000_0000, none), EPERM);
    assert_eq!(interp::run(&p, a.audit(), 0x4000_0000 | 39, none), EPERM);
    assert_eq!(interp::run(&p, a.audit(), 9999, none), ENOSYS);
    assert_eq!(interp::run(&p, 0xdead_beef, 0, none), RET_KILL_PROCESS);
    assert_eq!(
        interp::run(&p, Arch::Aarch64.audit(), 63, none),
        RET_KILL_PROCESS
    );
    // i386 compat section: same policy, i386 numbers.
    let x86 = Arch::X86;
    assert_eq!(
        interp::run(&p, x86.audit(), nr(x86, "getpid"), none),
        RET_ALLOW
    );
    assert_eq!(interp::run(&p, x86.audit(), nr(x86, "mount"), none), EPERM);
    assert_eq!(
        interp::run(&p, x86.audit(), nr(x86, "clone3"), none),
        ENOSYS
    );
}

#[test]
fn capabilities_open_their_syscalls() {
    let a = Arch::X86_64;
    let mut caps = docker_caps();
    caps.push("CAP_SYS_ADMIN".into());
    caps.push("CAP_SYS_BOOT".into());
    let p = prog(&caps, a);
    let run = |name: &str, args: [u64; 6]| interp::run(&p, a.audit(), nr(a, name), args);
    for ok in ["mount", "unshare", "setns", "bpf", "clone3", "reboot"] {
        assert_eq!(run(ok, [0; 6]), RET_ALLOW, "{ok}");
    }
    assert_eq!(
        run("clone", [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(run("kexec_load", [0; 6]), EPERM);
}

#[test]
fn default_aarch64_has_its_own_numbers_and_arm_compat() {
    let a = Arch::Aarch64;
    let p = prog(&docker_caps(), a);
    assert_eq!(interp::run(&p, a.audit(), 56, [0; 6]), RET_ALLOW); // openat
    assert_eq!(interp::run(&p, a.audit(), 40, [0; 6]), EPERM); // mount
    assert_eq!(interp::run(&p, a.audit(), 435, [0; 6]), ENOSYS); // clone3
    assert_eq!(
        interp::run(&p, Arch::X86_64.audit(), 0, [0; 6]),
        RET_KILL_PROCESS
    );
    let arm = Arch::Arm;
    assert_eq!(
        interp::run(&p, arm.audit(), nr(arm, "set_tls"), [0; 6]),
        RET_ALLOW
    );
    assert_eq!(
        interp::run(&p, arm.audit(), nr(arm, "mount"), [0; 6]),
        EPERM
    );
}

fn custom(text: &str) -> Vec<Insn> {
    let sc = load_profile(text, &[], Arch::X86_64).unwrap().unwrap();
    compile_for(&sc, Arch::X86_64)
        .unwrap()
        .instructions()
        .to_vec()
}

#[test]
fn comparisons_are_64_bit_unsigned() {
    let values: [u64; 9] = [
        0,
        1,
        0xffff_fffe,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x2_0000_0000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let a = Arch::X86_64;
    for (op, f) in [
        ("SCMP_CMP_EQ", (|x, v| x == v) as fn(u64, u64) -> bool),
        ("SCMP_CMP_NE", |x, v| x != v),
        ("SCMP_CMP_GT", |x, v| x > v),
        ("SCMP_CMP_GE", |x, v| x >= v),
        ("SCMP_CMP_LT", |x, v| x < v),
        ("SCMP_CMP_LE", |x, v| x <= v),
    ] {
        for v in values {
            let p = custom(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["read"],
                "action":"SCMP_ACT_ALLOW","args":[{{"index":2,"value":{v},"op":"{op}"}}]}}]}}"#
            ));
            for x in values {
                let want = if f(x, v) { RET_ALLOW } else { EPERM };
                let got = interp::run(&p, a.audit(), 0, [0, 0, x, 0, 0, 0]);
                assert_eq!(got, want, "{x:#x} {op} {v:#x}");
            }
        }
    }
    let p = custom(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["ioctl"],
        "action":"SCMP_ACT_ERRNO","errnoRet":22,
        "args":[{"index":1,"value":4294967280,"valueTwo":21504,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    let ioctl = nr(a, "ioctl");
    assert_eq!(
        interp::run(&p, a.audit(), ioctl, [0, 0x5401, 0, 0, 0, 0]),
        RET_ERRNO | 22
    );
    assert_eq!(
        interp::run(&p, a.audit(), ioctl, [0, 0x5411, 0, 0, 0, 0]),
        RET_ALLOW
    );
    // Default ALLOW: no ENOSYS stub for unknown numbers.
    assert_eq!(interp::run(&p, a.audit(), 9999, [0; 6]), RET_ALLOW);
}

#[test]
fn actions_and_rule_order() {
    let a = Arch::X86_64;
    let p = custom(
        r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
        {"names":["getpid"],"action":"SCMP_ACT_LOG"},
        {"names":["getppid"],"action":"SCMP_ACT_TRAP"},
        {"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":0,"value":99,"op":"SCMP_CMP_EQ"}]},
        {"names":["write"],"action":"SCMP_ACT_ALLOW"},
        {"names":["not_a_syscall"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let run = |name: &str, a0: u64| interp::run(&p, a.audit(), nr(a, name), [a0, 0, 0, 0, 0, 0]);
    assert_eq!(run("mkdir", 0), EPERM);
    assert_eq!(run("mkdirat", 0), EPERM);
    assert_eq!(run("getpid", 0), RET_LOG);
    assert_eq!(run("getppid", 0), RET_TRAP);
    assert_eq!(run("write", 99), RET_ERRNO | 5);
    assert_eq!(run("write", 1), RET_ALLOW);
    assert_eq!(run("read", 0), RET_KILL_PROCESS);
}

#[test]
fn every_syscall_number_reaches_a_verdict() {
    // Exhaustive over the table's range: no jump lands outside the program.
    let a = Arch::X86_64;
    let p = prog(&docker_caps(), a);
    for n in 0..=a.max_known() + 2 {
        let v = interp::run(&p, a.audit(), n, [0; 6]);
        assert!(v == RET_ALLOW || v == EPERM || v == ENOSYS, "{n}: {v:#x}");
    }
    assert!(p.len() < 4096);
}

#[test]
fn unsupported_features_are_refused() {
    let sc = load_profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        &[],
        Arch::X86_64,
    )
    .unwrap()
    .unwrap();
    let e = compile_for(&sc, Arch::X86_64).unwrap_err();
    assert!(e.to_string().contains("SCMP_ACT_NOTIFY"), "{e}");
}
