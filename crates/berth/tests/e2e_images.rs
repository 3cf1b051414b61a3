//! End-to-end: image and system commands through the docker CLI.

mod common;

#[test]
fn images_tag_rmi() {
    daemon!(d);
    let ls = d.docker(&["images"]).out();
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    let row = ls.lines().find(|l| l.starts_with("busybox")).unwrap();
    assert!(row.contains("latest"), "{row}");
    let id = d.inspect("busybox", "{{.Id}}");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert!(row.contains(&id[7..19]), "{row}");

    d.docker(&["tag", "busybox", "mine/bb:v1"]).ok();
    assert_eq!(d.inspect("mine/bb:v1", "{{.Id}}"), id);
    let repos = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .out();
    assert!(repos.lines().any(|l| l == "mine/bb:v1"), "{repos}");

    // rmi of one of two names only untags.
    let o = d.docker(&["rmi", "mine/bb:v1"]).out();
    assert_eq!(o, "Untagged: mine/bb:v1");
    assert_eq!(d.image_ids(), std::slice::from_ref(&id));

    // In use by a container: 409 conflict.
    d.docker(&["create", "--name", "user1", "busybox", "true"])
        .ok();
    let o = d.docker(&["rmi", &id]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("conflict: unable to delete")
            && o.stderr.contains("is being used by stopped container"),
        "{}",
        o.stderr
    );
    let r = d.request("DELETE", &format!("/images/{id}"), &[], &[]);
    assert_eq!(r.status, 409, "{}", r.text());
    d.docker(&["rm", "user1"]).ok();

    // Last name: untag and delete.
    let o = d.docker(&["rmi", "busybox"]).out();
    assert!(o.contains("Untagged: busybox:latest"), "{o}");
    assert!(o.contains(&format!("Deleted: {id}")), "{o}");
    assert!(d.image_ids().is_empty());
    let o = d.docker(&["rmi", "busybox"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("No such image: busybox"), "{}", o.stderr);
}

#[test]
fn history_save_load_round_trip() {
    daemon!(d);
    let hist = d.docker(&["history", "busybox"]).out();
    assert!(hist.starts_with("IMAGE"), "{hist}");
    assert!(hist.lines().count() >= 2, "{hist}");

    let id = d.inspect("busybox", "{{.Id}}");
    let tar = d.dir.join("bb.tar");
    d.docker(&["save", "-o", tar.to_str().unwrap(), "busybox"])
        .ok();
    assert!(std::fs::metadata(&tar).unwrap().len() > 100_000);
    d.docker(&["rmi", "busybox"]).ok();
    assert!(d.image_ids().is_empty());
    let o = d.docker(&["load", "-i", tar.to_str().unwrap()]).out();
    assert!(o.contains("Loaded image: busybox:latest"), "{o}");
    assert_eq!(d.inspect("busybox", "{{.Id}}"), id);
    // And it runs.
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "echo", "ok"]).out(),
        "ok"
    );

    // save to stdout, load from stdin.
    let saved = std::process::Command::new(common::DOCKER)
        .args(["save", "busybox"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", &d.docker_config)
        .output()
        .unwrap();
    assert!(saved.status.success());
    d.docker(&["rmi", "busybox"]).ok();
    let o = d.docker_stdin(&["load"], &saved.stdout).out();
    assert!(o.contains("Loaded image: busybox:latest"), "{o}");
    assert_eq!(d.inspect("busybox", "{{.Id}}"), id);
}

#[test]
fn import_with_changes_and_image_prune() {
    daemon!(d);
    let tar = d.dir.join("rootfs.tar");
    std::fs::write(&tar, common::busybox_tar()).unwrap();
    let o = d
        .docker(&[
            "import",
            "-c",
            "ENV GREETING=hello",
            "-c",
            "CMD [\"sh\", \"-c\", \"echo $GREETING\"]",
            "-c",
            "WORKDIR /tmp",
            tar.to_str().unwrap(),
            "greeter:1",
        ])
        .out();
    assert!(o.starts_with("sha256:"), "{o}");
    assert_eq!(d.docker(&["run", "--rm", "greeter:1"]).out(), "hello");
    assert_eq!(d.inspect("greeter:1", "{{.Config.WorkingDir}}"), "/tmp");

    // Untagged (dangling) import, then prune removes it.
    let o = d.docker(&["import", tar.to_str().unwrap()]).out();
    let dangling = o.trim().to_string();
    assert!(dangling.starts_with("sha256:"));
    let listed = d
        .docker(&["images", "-q", "--filter", "dangling=true"])
        .out();
    assert!(!listed.is_empty(), "dangling import not listed");
    let o = d.docker(&["image", "prune", "-f"]).out();
    assert!(o.contains("Total reclaimed space"), "{o}");
    // Named images stay.
    let ids = d.image_ids();
    assert!(ids.contains(&d.inspect("greeter:1", "{{.Id}}")));
    assert!(ids.contains(&d.inspect("busybox", "{{.Id}}")));
    let listed = d
        .docker(&["images", "-q", "--filter", "dangling=true"])
        .out();
    assert_eq!(listed, "", "dangling image survived prune");
}

#[test]
fn system_df_info_version() {
    daemon!(d);
    d.docker(&["run", "--name", "dfc", "busybox", "true"]).ok();
    let df = d.docker(&["system", "df"]).out();
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Images")), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Containers")), "{df}");
    // The only image is in use: nothing of it is reclaimable (needs SharedSize filled).
    let images_row = df.lines().find(|l| l.starts_with("Images")).unwrap();
    assert!(images_row.trim_end().ends_with("0B (0%)"), "{df}");
    // A commit shares the base layer: both images report it as shared.
    d.docker(&["commit", "dfc", "dfc-image"]).ok();
    let rows = d
        .get("/images/json?shared-size=1")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["Size"].as_i64().unwrap(),
                i["SharedSize"].as_i64().unwrap(),
            )
        })
        .collect::<Vec<_>>();
    let base = d.inspect("busybox", "{{.Size}}").parse::<i64>().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|(_, shared)| *shared == base),
        "{rows:?} base {base}"
    );
    d.docker(&["rmi", "dfc-image"]).ok();

    let driver = d.docker(&["info", "--format", "{{.Driver}}"]).out();
    assert!(!driver.is_empty());
    let info = d
        .docker(&["info", "--format", "{{.Containers}} {{.Images}}"])
        .out();
    assert_eq!(info, "1 1");
    let root = d.docker(&["info", "--format", "{{.DockerRootDir}}"]).out();
    assert_eq!(root, d.data_root.to_str().unwrap());

    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.APIVersion}}"])
            .out(),
        "1.50"
    );
    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.MinAPIVersion}}"])
            .out(),
        "1.24"
    );
    // Tools compare the server's version with a minimum Docker version: berth reports the
    // Docker release whose API it implements, and itself as a component.
    assert_eq!(
        d.docker(&["version", "--format", "{{.Server.Version}}"])
            .out(),
        "28.2.2"
    );
    assert_eq!(
        d.docker(&["info", "--format", "{{.ServerVersion}}"]).out(),
        "28.2.2"
    );
    let components = d
        .docker(&[
            "version",
            "--format",
            "{{range .Server.Components}}{{.Name}}={{.Version}} {{end}}",
        ])
        .out();
    assert_eq!(
        components,
        format!("Engine=28.2.2 berth={}", env!("CARGO_PKG_VERSION"))
    );
}

/// Bytes the files under `p` take on disk (`du`, blocks, not lengths).
fn disk_bytes(p: &std::path::Path) -> u64 {
    let o = std::process::Command::new("du")
        .args(["-s", "-B1"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Imported, committed and loaded layers are kept once (their files plus a tar-split of a
/// few KiB): at most 1.1× their size on disk, and `system df` says so; `save` rebuilds
/// the exact tars (a load of what was saved gives the same image ID).
#[test]
fn one_copy_of_each_layer_on_disk() {
    daemon!(d);
    let store = d.data_root.join("image");
    let layers_size = || d.get("/system/df").json()["LayersSize"].as_u64().unwrap();
    let src = d.dir.join("big");
    std::fs::create_dir_all(&src).unwrap();
    let size: u64 = 32 << 20;
    let sh = |cmd: &str| {
        let o = std::process::Command::new("sh")
            .args(["-c", cmd])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(&format!(
        "head -c {size} /dev/urandom > {0}/big && tar -C {0} -cf {0}.tar big",
        src.display()
    ));
    let (disk0, df0) = (disk_bytes(&store), layers_size());
    d.docker(&["import", &format!("{}.tar", src.display()), "big:1"])
        .ok();
    let (disk1, df1) = (disk_bytes(&store), layers_size());
    let grown = disk1 - disk0;
    assert!(
        grown as f64 <= 1.1 * size as f64 && grown >= size,
        "import: {grown} bytes on disk for {size}"
    );
    assert!(
        df1 - df0 >= size && (df1 - df0) as f64 <= 1.1 * size as f64,
        "system df: {}",
        df1 - df0
    );
    // A committed layer.
    d.docker(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 16777216 /dev/urandom > /data",
    ])
    .ok();
    d.docker(&["commit", "writer", "written:1"]).ok();
    let grown = disk_bytes(&store) - disk1;
    assert!(
        grown as f64 <= 1.1 * (16 << 20) as f64,
        "commit: {grown} bytes on disk"
    );
    // Save, remove, load: the same image, the layer kept once again.
    let id = d.inspect("big:1", "{{.Id}}");
    let saved = d.dir.join("saved.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "big:1"])
        .ok();
    d.docker(&["rmi", "big:1"]).ok();
    d.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(d.inspect("big:1", "{{.Id}}"), id);
    let digest = |p: &std::path::Path| {
        let o = std::process::Command::new("sha256sum")
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)[..64].to_string()
    };
    let again = d.dir.join("again.tar");
    d.docker(&["save", "-o", again.to_str().unwrap(), "big:1"])
        .ok();
    assert_eq!(digest(&saved), digest(&again), "save is byte-stable");
    let grown = disk_bytes(&store) - disk1;
    assert!(
        grown as f64 <= 1.1 * ((32 + 16) << 20) as f64,
        "after load: {grown} bytes on disk"
    );
}

/// An OCI image of `layers` layers as a tar `docker load` takes: busybox in the first
/// layer, then `/l<i>` holding `i` in layer `i`. Written by python (stdlib only).
fn deep_image_tar(dir: &std::path::Path, layers: usize, name: &str) -> std::path::PathBuf {
    let out = dir.join(format!("deep{layers}.tar"));
    let script = r#"
import gzip, hashlib, io, json, sys, tarfile
out, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
blobs, layers, diffs = {}, [], []
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    blobs[d] = b
    return d
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        if i == 0:
            t.add("/bin/busybox", arcname="bin/busybox")
            for app in ("sh", "cat", "ls", "wc"):
                link = tarfile.TarInfo("bin/" + app); link.type = tarfile.SYMTYPE; link.linkname = "busybox"
                t.addfile(link)
        else:
            data = f"{i}\n".encode()
            info = tarfile.TarInfo(f"l{i}"); info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    diffs.append("sha256:" + hashlib.sha256(plain).hexdigest())
    gz = gzip.compress(plain, 1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz), "size": len(gz)})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                  "layers": layers}).encode()
md = put(man)
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": len(man), "annotations": {"io.containerd.image.name": name}}]}).encode()
with tarfile.open(out, "w") as t:
    def add(path, data):
        info = tarfile.TarInfo(path); info.size = len(data); t.addfile(info, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for d, b in blobs.items():
        add("blobs/sha256/" + d[7:], b)
"#;
    let st = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .arg(layers.to_string())
        .arg(name)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// Images as deep as registries hold them: 130 layers (Docker runs up to 125) load, run
/// and show every layer, though their overlay options would pass the one page that
/// `mount(2)` takes (one `lowerdir+` per layer through the new mount API).
#[test]
fn images_of_130_layers_run() {
    daemon!(d);
    let tar = deep_image_tar(&d.dir, 130, "docker.io/library/deep:130");
    d.docker(&["load", "-i", tar.to_str().unwrap()]).ok();
    assert_eq!(
        d.inspect("deep:130", "{{len .RootFS.Layers}}").trim(),
        "130"
    );
    let out = d
        .docker(&[
            "run",
            "--rm",
            "deep:130",
            "sh",
            "-c",
            "cat /l1 /l129; ls / | wc -l",
        ])
        .out();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[..2], ["1", "129"], "{out}");
    // bin + l1..l129 + what the runtime adds (dev, proc, sys, etc).
    assert!(lines[2].parse::<usize>().unwrap() >= 130, "{out}");
    // The layer paths alone pass mount(2)'s page.
    let lowers = d.inspect("deep:130", "{{.GraphDriver.Data.LowerDir}}");
    assert!(lowers.len() > 4095, "{} bytes of lower dirs", lowers.len());
    // docker cp from a stopped deep container mounts the same stack read-only.
    d.docker(&["create", "--name", "deepc", "deep:130"]).ok();
    let o = d.docker(&["cp", "deepc:/l77", "-"]);
    assert!(o.stdout.contains("77"), "{}", o.all());
}
