//! End-to-end: details real clients parse, checked with the unmodified docker CLI against
//! moby's behaviour: `ps` filters (regular expressions, ports, validation), events for
//! networks and volumes, network and volume objects, `system df`/`prune`, inspect sizes,
//! state cleared at stop, `diff` without the engine's mount points.

mod common;

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(|l| l.trim().to_string()).collect();
    v.sort();
    v
}

#[test]
fn ps_filters_match_like_moby() {
    daemon!(d);
    d.docker(&[
        "run", "-d", "--name", "web1", "-p", "80", "busybox", "sleep", "300",
    ])
    .ok();
    d.docker(&[
        "run", "-d", "--name", "db1", "--expose", "7000", "busybox", "sleep", "300",
    ])
    .ok();
    d.docker(&["run", "--name", "gone", "busybox", "sh", "-c", "exit 3"]);
    let ps = |filters: &[&str]| -> String {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        lines(&d.docker(&args).out()).join(" ")
    };
    // name and id are regular expressions.
    assert_eq!(ps(&["name=^web1$"]), "web1");
    assert_eq!(ps(&["name=^/db"]), "db1");
    assert_eq!(ps(&["name=e[b]"]), "web1");
    let id = d.inspect("db1", "{{.Id}}");
    assert_eq!(ps(&[&format!("id={}", &id[20..30])]), "db1");
    // Ports: publish matches the host side, expose the container side.
    let host_port = d.docker(&["port", "web1", "80"]).out();
    let host_port = host_port.rsplit(':').next().unwrap().to_string();
    assert_eq!(ps(&[&format!("publish={host_port}")]), "web1");
    assert_eq!(ps(&["expose=80/tcp"]), "web1");
    assert_eq!(ps(&["expose=6990-7010"]), "db1");
    assert_eq!(ps(&["expose=7000/udp"]), "");
    assert_eq!(ps(&["health=none", "status=running"]), "db1 web1");
    // exited=N alone does not imply -a (only status does).
    assert_eq!(
        d.docker(&["ps", "--filter", "exited=3", "--format", "{{.Names}}"])
            .out(),
        ""
    );
    assert_eq!(ps(&["exited=3"]), "gone");
    // Bad values are refused with moby's texts.
    for (filter, text) in [
        ("exited=abc", "invalid filter 'exited=abc'"),
        ("health=bogus", "invalid filter 'health=bogus'"),
        ("publish=1-2-3", "error while looking up for publish 1-2-3"),
        (
            "publish=80:80",
            "filter for 'publish' should not contain ':'",
        ),
        ("before=nosuch", "No such container: nosuch"),
        ("status=sleeping", "invalid filter 'status=sleeping'"),
    ] {
        let o = d.docker(&["ps", "--filter", filter]);
        assert_ne!(o.code, 0, "{filter}");
        assert!(o.stderr.contains(text), "{filter}: {}", o.stderr);
    }
}

#[test]
fn network_and_volume_objects_events_and_prune() {
    daemon!(d);
    let t0 = chrono::Utc::now().timestamp() - 1;
    let subnet = common::free_test_subnet();
    let base = subnet.trim_end_matches(".0/24");
    let net = format!("aux{}", common::random_hex(3));
    d.docker(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--aux-address",
        &format!("router={base}.2"),
        "--ipam-opt",
        "foo=bar",
        &net,
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "network",
            "inspect",
            &net,
            "-f",
            "{{json .IPAM.Options}} {{json (index .IPAM.Config 0).AuxiliaryAddresses}}"
        ])
        .out(),
        format!(r#"{{"foo":"bar"}} {{"router":"{base}.2"}}"#)
    );
    // The auxiliary address is never handed out.
    let ip = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ])
        .out();
    assert!(ip.contains(&format!("{base}.3/")), "{ip}");
    // A container's start and stop connect and disconnect it (network events).
    let o = d.docker(&["network", "create", "--config-from", "nosuch", "cf"]);
    assert!(
        o.stderr
            .contains("configuration network \"nosuch\" does not exist"),
        "{}",
        o.stderr
    );
    let o = d.docker(&["network", "ls", "--filter", "dangling=maybe"]);
    assert!(
        o.stderr.contains("invalid value for filter 'dangling'"),
        "{}",
        o.stderr
    );

    // Volumes with driver options survive prune -a; plain unused ones go.
    d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "kept",
    ])
    .ok();
    d.docker(&["volume", "create", "plain"]).ok();
    d.docker(&["volume", "prune", "-a", "-f"]).ok();
    assert_eq!(d.docker(&["volume", "ls", "-q"]).out(), "kept");
    assert_eq!(
        d.docker(&["volume", "ls", "-q", "--filter", "name=^k.p"])
            .out(),
        "kept"
    );

    // system prune succeeds (build cache included) and system df answers per type.
    let o = d.docker(&["system", "prune", "-f"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("Total reclaimed space"), "{}", o.stdout);
    let df = d.get("/system/df?type=volume").json();
    assert!(
        df.get("Volumes").is_some() && df.get("Images").is_none(),
        "{df}"
    );
    assert_eq!(d.get("/system/df?type=bogus").status, 400);

    let t1 = chrono::Utc::now().timestamp() + 1;
    let ev = d
        .docker(&[
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &t1.to_string(),
            "--filter",
            &format!("network={net}"),
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .out();
    let ev: Vec<&str> = ev.lines().collect();
    assert_eq!(
        ev,
        [
            "network create",
            "network connect",
            "network disconnect",
            "network destroy"
        ],
        "{ev:?}"
    );
    let ev = d
        .docker(&[
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &t1.to_string(),
            "--filter",
            "volume=plain",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.ID}}",
        ])
        .out();
    assert_eq!(
        ev.lines().collect::<Vec<_>>(),
        ["volume create plain", "volume destroy plain"]
    );
}

#[test]
fn inspect_sizes_stopped_state_and_diff() {
    daemon!(d);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "st",
        "-p",
        "80",
        "busybox",
        "sh",
        "-c",
        "echo hello > /f; echo written; sleep 300",
    ])
    .ok();
    // The size is only non-zero once the shell has written /f.
    d.wait_logs("st", "written");
    let r = d.get("/containers/st/json?size=1").json();
    assert!(r["SizeRw"].as_i64().unwrap() > 0, "{r}");
    assert!(r["SizeRootFs"].as_i64().unwrap() > r["SizeRw"].as_i64().unwrap());
    assert!(d.get("/containers/st/json").json().get("SizeRw").is_none());
    // The default bridge has no DNS names (user networks do).
    assert_eq!(
        d.inspect("st", "{{json .NetworkSettings.Networks.bridge.DNSNames}}"),
        "null"
    );
    // diff shows the container's own file, not the engine's mount points.
    let diff = d.docker(&["diff", "st"]).out();
    assert!(diff.lines().any(|l| l == "A /f"), "{diff}");
    for hidden in ["/dev", "/proc", "/sys", "/etc/hosts"] {
        assert!(
            !diff.lines().any(|l| l.ends_with(&format!(" {hidden}"))),
            "{diff}"
        );
    }
    d.docker(&["stop", "-t", "0", "st"]).ok();
    // Stopped: no ports (null, as moby), no generated MAC; die says how long it ran.
    assert_eq!(d.inspect("st", "{{json .NetworkSettings.Ports}}"), "null");
    assert_eq!(
        d.inspect("st", "{{.NetworkSettings.Networks.bridge.MacAddress}}"),
        ""
    );
    let die = d
        .docker(&[
            "events",
            "--since",
            "1",
            "--until",
            &(chrono::Utc::now().timestamp() + 1).to_string(),
            "--filter",
            "event=die",
            "--format",
            "{{index .Actor.Attributes \"execDuration\"}}",
        ])
        .out();
    assert!(die.parse::<u64>().is_ok(), "{die}");
}

#[test]
fn container_texts_and_defaults_like_moby() {
    daemon!(d);
    d.docker(&["run", "-d", "--name", "pp", "busybox", "sleep", "300"])
        .ok();
    d.docker(&["pause", "pp"]).ok();
    let o = d.docker(&["pause", "pp"]);
    assert!(
        o.stderr.contains("Container ") && o.stderr.contains(" is already paused"),
        "{}",
        o.stderr
    );
    let o = d.docker(&["exec", "pp", "true"]);
    assert!(
        o.stderr
            .contains("is paused, unpause the container before exec"),
        "{}",
        o.stderr
    );
    d.docker(&["unpause", "pp"]).ok();
    let o = d.docker(&["unpause", "pp"]);
    assert!(o.stderr.contains("is not paused"), "{}", o.stderr);
    let o = d.docker(&["kill", "-s", "BOGUS", "pp"]);
    assert!(
        o.stderr
            .contains("cannot kill container: pp: Invalid signal: BOGUS"),
        "{}",
        o.stderr
    );
    d.docker(&["create", "--name", "idle", "busybox", "true"])
        .ok();
    let o = d.docker(&["kill", "idle"]);
    assert!(
        o.stderr.contains("cannot kill container: idle: container "),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains(" is not running"), "{}", o.stderr);
    // --rm with a restart policy: refused at update with moby's text.
    d.docker(&[
        "run", "-d", "--rm", "--name", "auto", "busybox", "sleep", "300",
    ])
    .ok();
    let o = d.docker(&["update", "--restart", "always", "auto"]);
    assert!(
        o.stderr.contains(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        ),
        "{}",
        o.stderr
    );
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
    );
    r.assert_error(
        400,
        "can't create 'AutoRemove' container with restart policy",
    );
    // Pids limits: zero or negative is unlimited (null at create, 0 at update).
    d.docker(&[
        "create",
        "--name",
        "pl",
        "--pids-limit",
        "-5",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect("pl", "{{json .HostConfig.PidsLimit}}"), "null");
    d.docker(&["update", "--pids-limit", "-1", "pp"]).ok();
    assert_eq!(d.inspect("pp", "{{json .HostConfig.PidsLimit}}"), "0");
    // Docker's runtime names select runc (berth's own runtime where runc is not
    // installed); names nobody registered are unknown.
    let o = d.docker(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "ran"]);
    assert_eq!(o.out(), "ran");
    let o = d.docker(&["run", "--rm", "--runtime", "nvidia", "busybox", "true"]);
    assert!(
        o.stderr.contains("unknown or invalid runtime name: nvidia"),
        "{}",
        o.stderr
    );
    // stats: streaming and one-shot exclude each other (moby answers 400 at once).
    d.get("/containers/pp/stats?stream=1&one-shot=1")
        .assert_error(400, "cannot have stream=true and one-shot=true");
    // Create warnings, as moby gives them.
    let r = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"OomKillDisable":true}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        r.json()["Warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("OOM killer is disabled for the container, but no memory limit is set"),
        "{}",
        r.text()
    );
}

#[test]
fn image_save_tag_and_lookup_like_moby() {
    daemon!(d);
    d.docker(&["tag", "busybox", "saved:1"]).ok();
    d.docker(&["tag", "busybox", "saved:2"]).ok();
    let manifest = |args: &[&str]| -> serde_json::Value {
        let mut a = vec!["save"];
        a.extend_from_slice(args);
        let tar = d.docker_cmd(&a).output().unwrap().stdout;
        let mut ar = tar::Archive::new(tar.as_slice());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("manifest.json") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                return serde_json::from_str(&s).unwrap();
            }
        }
        panic!("no manifest.json")
    };
    // A repository without tag saves all its tags; an ID saves no tag; a tag saves itself.
    assert_eq!(
        manifest(&["saved"])[0]["RepoTags"],
        serde_json::json!(["saved:1", "saved:2"])
    );
    let id = d.inspect("saved:1", "{{.Id}}");
    assert_eq!(manifest(&[&id])[0]["RepoTags"], serde_json::Value::Null);
    assert_eq!(
        manifest(&["saved:2"])[0]["RepoTags"],
        serde_json::json!(["saved:2"])
    );
    // Any unique prefix of the ID names the image.
    let hex = id.trim_start_matches("sha256:");
    assert_eq!(d.inspect(&hex[..2], "{{.Id}}"), id);
    // A tag named like a digest algorithm is refused.
    let o = d.docker(&["tag", "busybox", "sha256:abc"]);
    assert!(
        o.stderr
            .contains("refusing to create an ambiguous tag using digest algorithm as name"),
        "{}",
        o.stderr
    );
    // The container count is only computed for system df (N/A in `docker images`).
    assert_eq!(
        d.docker(&["images", "--format", "{{.Containers}}", "saved:1"])
            .out(),
        "N/A"
    );
    // until takes moby's time formats.
    let o = d.docker(&["image", "prune", "-f", "--filter", "until=2000-01-01T00:00"]);
    assert_eq!(o.code, 0, "{}", o.all());
}
