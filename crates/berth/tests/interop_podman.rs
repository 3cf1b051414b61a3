//! Image interchange with a second, real engine: podman.
//!
//! Images built by podman (an import plus a `podman build` with whiteouts, ENV and CMD) are
//! saved as docker-archive and oci-archive and loaded into berth with the unmodified docker
//! CLI; an image saved by berth is loaded into podman and run there. The image ID (config
//! digest) must survive both ways.
//!
//! Skipped (passes with a notice) when `podman` is not on PATH, or when not root. Podman
//! runs on private storage (`--root`, `--runroot`, `--tmpdir`, network config dir, all under
//! `/tmp/bp<hex>`), with the vfs driver (no mounts to leak) and a private cgroup parent;
//! `Drop` removes all of it, also when the test panics.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{run_cmd, Out, TestDaemon};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The first `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A podman on private storage.
struct Podman {
    bin: PathBuf,
    dir: PathBuf,
    cgroup_parent: String,
    /// `--runtime runc` when runc is installed: crun refuses hybrid cgroup hosts
    /// ("cgroups in hybrid mode not supported"), runc does not.
    runtime: Option<PathBuf>,
    /// Host directories podman creates whatever `--root` says (containers/image's
    /// blob-info cache, the network run dir) that did not exist before this test: removed
    /// again in `Drop`.
    made_global: Vec<&'static str>,
}

const GLOBAL_DIRS: [&str; 2] = ["/var/lib/containers", "/run/containers"];

impl Podman {
    fn new(bin: PathBuf) -> Podman {
        let tag = common::random_hex(8);
        let dir = PathBuf::from(format!("/tmp/bp{tag}"));
        for sub in ["root", "run", "tmp", "net", "work"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create podman dirs");
        }
        Podman {
            bin,
            dir,
            cgroup_parent: format!("berth-test-{tag}-podman"),
            runtime: on_path("runc"),
            made_global: GLOBAL_DIRS
                .into_iter()
                .filter(|d| !std::path::Path::new(d).exists())
                .collect(),
        }
    }

    fn work(&self, name: &str) -> PathBuf {
        self.dir.join("work").join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .arg("--network-config-dir")
            .arg(self.dir.join("net"))
            .args(["--storage-driver", "vfs"])
            .args(["--events-backend", "file"])
            .args(["--cgroup-manager", "cgroupfs"]);
        if let Some(r) = &self.runtime {
            c.arg("--runtime").arg(r);
        }
        // podman reads DOCKER_CONFIG for registry auth and fails when it names no file.
        c.args(args)
            .env("TMPDIR", self.dir.join("tmp"))
            .env_remove("DOCKER_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run_cmd(self.cmd(args), None, TIMEOUT)
    }

    /// `podman run --rm` with what this host needs: no network, rlimits no higher than ours
    /// (podman asks for nofile=1048576, which needs CAP_SYS_RESOURCE), private cgroup parent.
    fn run_container(&self, args: &[&str]) -> Out {
        let cg = format!("/{}", self.cgroup_parent);
        let mut all = vec![
            "run",
            "--rm",
            "--pull",
            "never",
            "--network",
            "none",
            "--cgroup-parent",
            &cg,
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// The image ID as docker writes it (`podman image inspect` leaves out `sha256:`).
    fn image_id(&self, image: &str) -> String {
        let id = self
            .run(&["image", "inspect", "--format", "{{.Id}}", image])
            .out();
        if id.starts_with("sha256:") {
            id
        } else {
            format!("sha256:{id}")
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = run_cmd(self.cmd(&["rm", "-af", "-t", "0"]), None, TIMEOUT);
        let _ = run_cmd(self.cmd(&["rmi", "-af"]), None, TIMEOUT);
        common::unmount_under(&self.dir);
        common::remove_cgroups(&self.cgroup_parent);
        let _ = std::fs::remove_dir_all(&self.dir);
        for d in &self.made_global {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// An error of podman's OCI runtime on this host (not of the image).
fn host_runtime_refused(o: &Out) -> bool {
    let e = o.all();
    o.code != 0
        && (e.contains("OCI runtime")
            || e.contains("OCI permission denied")
            || e.contains("cgroups in hybrid mode"))
}

fn check_in_berth(d: &TestDaemon, want_id: &str, want_layers: usize, how: &str) {
    let images = d.docker(&["images", "--no-trunc"]).out();
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("localhost/bb") && l.contains("multi") && l.contains(want_id)),
        "{how}: localhost/bb:multi {want_id} not in:\n{images}"
    );
    // Same config, same digest: the image ID is podman's.
    assert_eq!(d.inspect("localhost/bb:multi", "{{.Id}}"), want_id, "{how}");
    assert_eq!(
        d.inspect("localhost/bb:multi", "{{len .RootFS.Layers}}"),
        want_layers.to_string(),
        "{how}: layer count"
    );
    let env = d.inspect("localhost/bb:multi", "{{json .Config.Env}}");
    assert!(
        env.contains("\"FOO=bar\"") && env.contains("\"HELLO=world\""),
        "{how}: env {env}"
    );
    assert_eq!(
        d.inspect("localhost/bb:multi", "{{json .Config.Cmd}}"),
        r#"["cat","/x"]"#,
        "{how}"
    );
    // CMD is used, layers applied in order.
    let o = d.docker(&["run", "--rm", "--network", "none", "localhost/bb:multi"]);
    assert_eq!(o.out(), "x", "{how}: CMD cat /x");
    // Whiteouts: /bin/vi deleted by a later layer, /d replaced (its old file y gone); ENV set.
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/bb:multi",
        "sh",
        "-c",
        "test -e /bin/vi && echo vi-present; ls /d; echo $FOO-$HELLO; test -x /bin/ls && echo ls-ok",
    ]);
    assert_eq!(o.out(), "z\nbar-world\nls-ok", "{how}: whiteouts/env");
}

#[test]
fn images_move_between_podman_and_berth() {
    let podman = on_path("podman");
    if !berth_testkit::require(
        podman.is_some(),
        "podman on PATH",
        "apt-get install podman runc",
    ) {
        return;
    }
    let podman_bin = podman.unwrap_or_default();
    if !common::can_run() {
        return;
    }
    let d = TestDaemon::start();
    let p = Podman::new(podman_bin);

    // --- podman creates images offline ---------------------------------------------------
    let rootfs = p.work("rootfs.tar");
    std::fs::write(&rootfs, common::busybox_tar()).unwrap();
    p.run(&["import", rootfs.to_str().unwrap(), "localhost/bb:1"])
        .ok();
    let ctx = p.work("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/bb:1\n\
         RUN echo x > /x\n\
         RUN rm /bin/vi && mkdir -p /d && echo y > /d/y\n\
         RUN rm -rf /d && mkdir /d && echo z > /d/z\n\
         ENV FOO=bar HELLO=world\n\
         CMD [\"cat\", \"/x\"]\n",
    )
    .unwrap();
    // chroot isolation: RUN steps need no OCI runtime or cgroups; it requires host network.
    p.run(&[
        "build",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "-t",
        "localhost/bb:multi",
        ctx.to_str().unwrap(),
    ])
    .ok();
    let podman_id = p.image_id("localhost/bb:multi");
    assert_eq!(podman_id.len(), 71, "podman id {podman_id}");
    let layers: usize = p
        .run(&[
            "image",
            "inspect",
            "--format",
            "{{len .RootFS.Layers}}",
            "localhost/bb:multi",
        ])
        .out()
        .parse()
        .unwrap();
    assert!(layers >= 3, "podman build made {layers} layers");

    let da = p.work("da.tar");
    let oa = p.work("oa.tar");
    let two = p.work("two.tar");
    p.run(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        da.to_str().unwrap(),
        "localhost/bb:multi",
    ])
    .ok();
    p.run(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oa.to_str().unwrap(),
        "localhost/bb:multi",
    ])
    .ok();
    // A multi-image docker-archive (`-m`): two manifest.json entries sharing a layer.
    p.run(&[
        "save",
        "-m",
        "-o",
        two.to_str().unwrap(),
        "localhost/bb:1",
        "localhost/bb:multi",
    ])
    .ok();

    // --- podman → berth ------------------------------------------------------------------
    let o = d.docker(&["load", "-i", da.to_str().unwrap()]);
    assert!(
        o.out().contains("Loaded image: localhost/bb:multi"),
        "{o:?}"
    );
    check_in_berth(&d, &podman_id, layers, "docker-archive");
    d.docker(&["rmi", "localhost/bb:multi"]).ok();

    let o = d.docker(&["load", "-i", oa.to_str().unwrap()]);
    assert!(
        o.out().contains("Loaded image: localhost/bb:multi"),
        "{o:?}"
    );
    check_in_berth(&d, &podman_id, layers, "oci-archive");
    d.docker(&["rmi", "localhost/bb:multi"]).ok();

    // docker-archive on stdin, two images in one archive.
    let o = d.docker_stdin(&["load"], &std::fs::read(&two).unwrap());
    let out = o.out();
    assert!(
        out.contains("Loaded image: localhost/bb:1")
            && out.contains("Loaded image: localhost/bb:multi"),
        "{out}"
    );
    check_in_berth(&d, &podman_id, layers, "multi-image docker-archive");
    assert_eq!(
        d.inspect("localhost/bb:1", "{{.Id}}"),
        p.image_id("localhost/bb:1")
    );

    // --- berth → podman ------------------------------------------------------------------
    let bb = p.work("b.tar");
    let bm = p.work("m.tar");
    d.docker(&["save", "-o", bb.to_str().unwrap(), "busybox:latest"])
        .ok();
    d.docker(&["save", "-o", bm.to_str().unwrap(), "localhost/bb:multi"])
        .ok();
    p.run(&["rmi", "localhost/bb:multi"]).ok();
    let o = p.run(&["load", "-i", bb.to_str().unwrap()]);
    assert!(o.out().contains("busybox:latest"), "{o:?}");
    assert_eq!(
        p.image_id("busybox:latest"),
        d.inspect("busybox:latest", "{{.Id}}")
    );
    p.run(&["load", "-i", bm.to_str().unwrap()]).ok();
    assert_eq!(p.image_id("localhost/bb:multi"), podman_id);

    let o = p.run_container(&["busybox:latest", "echo", "ok"]);
    if host_runtime_refused(&o) {
        eprintln!(
            "notice: podman's OCI runtime cannot run containers on this host; \
             loaded images checked by inspect only:\n{}",
            o.all()
        );
        return;
    }
    assert_eq!(o.out(), "ok");
    let o = p.run_container(&[
        "localhost/bb:multi",
        "sh",
        "-c",
        "cat /x; test -e /bin/vi && echo vi-present; ls /d; echo $FOO",
    ]);
    assert_eq!(o.out(), "x\nz\nbar");
}
