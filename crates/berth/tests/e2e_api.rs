//! End-to-end: bad input through raw HTTP. Every error is Docker-shaped (JSON `message`,
//! `Content-Type: application/json`, the right status) and creates nothing.

mod common;

use common::TestDaemon;

fn nothing_created(d: &TestDaemon, images_before: &[String]) {
    assert!(d.container_ids().is_empty(), "a container was created");
    assert_eq!(d.image_ids(), images_before, "the image list changed");
}

#[test]
fn ping_and_versions() {
    daemon!(d);
    let r = d.request("HEAD", "/_ping", &[], &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("api-version"), Some("1.50"));
    assert_eq!(r.header("ostype"), Some("linux"));
    let r = d.get("/_ping");
    assert_eq!(r.text(), "OK");
    assert!(r.header("server").is_some());

    let r = d.get("/v1.99/_ping");
    r.assert_error(400, "client version 1.99 is too new");
    let r = d.get("/v1.12/containers/json");
    r.assert_error(400, "client version 1.12 is too old");
    let r = d.get("/v1.24/containers/json");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().is_array());
    let r = d.get("/v1.50/version");
    assert_eq!(r.json()["ApiVersion"], "1.50");
    let r = d.get("/nope/nope");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn create_bad_input() {
    daemon!(d);
    let images = d.image_ids();

    let r = d.post_json("/containers/create", "{\"Image\": \"busybox\", ");
    r.assert_error(400, "");
    let r = d.post_json("/containers/create", "[1,2,3]");
    r.assert_error(400, "");
    let r = d.post_json("/containers/create", "{\"Image\": 42}");
    r.assert_error(400, "");
    nothing_created(&d, &images);

    let r = d.post_json(
        "/containers/create?name=bad%20name!",
        "{\"Image\":\"busybox\"}",
    );
    r.assert_error(400, "Invalid container name");
    let r = d.post_json("/containers/create?name=-lead", "{\"Image\":\"busybox\"}");
    r.assert_error(400, "Invalid container name");
    nothing_created(&d, &images);

    // Fields Docker types are decoded as their types: a wrong shape is Docker's 400,
    // never a container that half-applies it.
    for body in [
        r#"{"Image":"busybox","Healthcheck":"CMD true"}"#,
        r#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":"5s"}}"#,
        r#"{"Image":"busybox","HostConfig":{"Ulimits":{"Name":"nofile"}}}"#,
        r#"{"Image":"busybox","HostConfig":{"Mounts":{"Type":"bind","Target":"/x"}}}"#,
        r#"{"Image":"busybox","HostConfig":{"Devices":"/dev/null"}}"#,
        r#"{"Image":"busybox","HostConfig":{"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":"x"}]}}"#,
        r#"{"Image":"busybox","HostConfig":{"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":-1}]}}"#,
        r#"{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":"8080"}}}"#,
        r#"{"Image":"busybox","HostConfig":{"DeviceRequests":{"Driver":"nvidia"}}}"#,
    ] {
        let r = d.post_json("/containers/create", body);
        r.assert_error(400, "json: cannot unmarshal");
    }
    nothing_created(&d, &images);
    // null where Docker allows it stays the zero value.
    let r = d.post_json(
        "/containers/create?name=nulls",
        r#"{"Image":"busybox","Healthcheck":null,"HostConfig":{"Ulimits":null,"Devices":null,"PortBindings":{"80/tcp":null},"BlkioWeightDevice":null}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker(&["rm", "nulls"]).ok();

    let r = d.post_json("/containers/create", "{\"Image\":\"nosuchimage:1\"}");
    r.assert_error(404, "No such image: nosuchimage:1");
    let r = d.post_json("/containers/create", "{}");
    assert_eq!(r.status, 400, "{}", r.text());
    nothing_created(&d, &images);

    // Unknown fields are accepted and ignored.
    let r = d.post_json(
        "/containers/create?name=okname",
        "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"NoSuchField\":{\"x\":1},\"HostConfig\":{\"AlsoUnknown\":true}}",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Id"].as_str().unwrap().len(), 64);
    // Unknown/empty query parameters too.
    let r = d.get("/containers/json?all=1&filters=%7B%7D&size=0&whatever=");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}

#[test]
fn unknown_container_is_404() {
    daemon!(d);
    let images = d.image_ids();
    for (method, path) in [
        ("GET", "/containers/x/json"),
        ("POST", "/containers/x/start"),
        ("POST", "/containers/x/stop"),
        ("POST", "/containers/x/kill"),
        ("GET", "/containers/x/logs?stdout=1"),
        ("POST", "/containers/x/exec"),
        ("DELETE", "/containers/x"),
        ("POST", "/containers/x/wait"),
        ("GET", "/containers/x/top"),
        ("POST", "/containers/x/pause"),
        ("POST", "/containers/x/rename?name=y1"),
    ] {
        let body: &[u8] = if path.ends_with("/exec") {
            b"{\"Cmd\":[\"true\"]}"
        } else {
            b""
        };
        let r = d.request(method, path, &[("Content-Type", "application/json")], body);
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        r.assert_error(404, "No such container: x");
    }
    let r = d.get("/exec/nope/json");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.get("/images/nope/json");
    r.assert_error(404, "No such image: nope");
    nothing_created(&d, &images);
}

#[test]
fn huge_body_then_still_alive() {
    daemon!(d);
    let images = d.image_ids();
    let mut body = b"{\"Image\":\"busybox\",\"Labels\":{\"x\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 20 * 1024 * 1024));
    body.extend_from_slice(b"\"}}");
    // Either an error status or a dropped connection is fine; a crash is not.
    if let Ok(r) = d.try_request(
        "POST",
        "/containers/create",
        &[("Content-Type", "application/json")],
        &body,
    ) {
        assert!(
            r.status == 400 || r.status == 413,
            "20 MB create: {} {}",
            r.status,
            r.text()
        );
        r.assert_error(r.status, "");
    }
    let r = d.get("/_ping");
    assert_eq!(r.status, 200);
    nothing_created(&d, &images);
    // A big non-JSON garbage body as well.
    let junk = vec![0xffu8; 3 * 1024 * 1024];
    if let Ok(r) = d.try_request("POST", "/containers/create", &[], &junk) {
        assert!(r.status >= 400);
    }
    assert_eq!(d.get("/_ping").status, 200);
    nothing_created(&d, &images);
}

/// A ustar header + data block for `name` (written raw: tar libraries refuse `..`).
fn tar_entry(name: &str, data: &[u8], typeflag: u8, link: &str) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut v = h.to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

#[test]
fn import_rejects_path_traversal() {
    daemon!(d);
    let images = d.image_ids();
    let marker = d.dir.join("escaped");
    let depth = "../".repeat(12);
    let evil = format!(
        "{depth}{}",
        marker.to_str().unwrap().trim_start_matches('/')
    );
    for tar in [
        // a plain `../` path
        [
            tar_entry("ok.txt", b"fine", b'0', ""),
            tar_entry(&evil, b"pwned", b'0', ""),
            vec![0u8; 1024],
        ]
        .concat(),
        // a symlink pointing out, then a write through it
        [
            tar_entry("link", b"", b'2', d.dir.to_str().unwrap()),
            tar_entry("link/escaped", b"pwned", b'0', ""),
            vec![0u8; 1024],
        ]
        .concat(),
    ] {
        let r = d.request(
            "POST",
            "/images/create?fromSrc=-&repo=evil&tag=1",
            &[("Content-Type", "application/x-tar")],
            &tar,
        );
        eprintln!("traversal import answered {} {}", r.status, r.text());
        // An HTTP error or an error message in the progress stream.
        assert!(
            r.status >= 400 || r.text().contains("errorDetail"),
            "traversal tar accepted: {} {}",
            r.status,
            r.text()
        );
        assert!(!marker.exists(), "the tar wrote outside the layer");
        nothing_created(&d, &images);
        assert_eq!(d.get("/images/evil:1/json").status, 404);
    }
}

#[test]
fn api_errors_through_docker_cli() {
    daemon!(d);
    let o = d.docker(&["run", "--rm", "nosuchimage:1", "true"]);
    o.code(125);
    // No registry is reachable; the daemon says why the pull failed or that the image is
    // missing. Either way nothing was created.
    assert!(!o.stderr.is_empty());
    assert!(d.container_ids().is_empty());
    let o = d.docker(&["start", "nosuch"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("No such container: nosuch"),
        "{}",
        o.stderr
    );
}

/// Exec instances live as long as their container, however it goes: `rm -f`, `--rm` when it
/// exits, or `container prune` (dockerd keeps them until then, and frees them then).
#[test]
fn exec_records_go_with_their_container() {
    daemon!(d);
    let exec_in = |name: &str| -> String {
        let r = d.post_json(
            &format!("/containers/{name}/exec"),
            r#"{"Cmd":["true"],"AttachStdout":true}"#,
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["Id"].as_str().unwrap().to_string();
        let r = d.post_json(&format!("/exec/{id}/start"), r#"{"Detach":true}"#);
        assert!(r.status < 300, "{}", r.text());
        assert_eq!(d.get(&format!("/exec/{id}/json")).status, 200);
        id
    };
    let gone = |id: &str| {
        // Removal finishes after the answer to the request that caused it.
        for _ in 0..100 {
            if d.get(&format!("/exec/{id}/json")).status == 404 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("exec {id} outlived its container");
    };
    d.docker(&["run", "-d", "--name", "ex-rm", "busybox", "sleep", "100"])
        .ok();
    let a = exec_in("ex-rm");
    d.docker(&["rm", "-f", "ex-rm"]).ok();
    gone(&a);

    d.docker(&[
        "run", "-d", "--rm", "--name", "ex-auto", "busybox", "sleep", "100",
    ])
    .ok();
    let b = exec_in("ex-auto");
    d.docker(&["kill", "ex-auto"]).ok();
    gone(&b);

    d.docker(&["run", "-d", "--name", "ex-prune", "busybox", "sleep", "100"])
        .ok();
    let c = exec_in("ex-prune");
    d.docker(&["kill", "ex-prune"]).ok();
    assert_eq!(d.get(&format!("/exec/{c}/json")).status, 200);
    d.docker(&["container", "prune", "-f"]).ok();
    gone(&c);
}
