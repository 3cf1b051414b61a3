//! End-to-end: json-file log options through the docker CLI, as moby v28.2.2 handles them:
//! extra attributes (`labels`, `labels-regex`, `env`, `env-regex`, `tag`) in each record
//! and in `docker logs --details`, gzip-compressed rotation (`compress=true`) read back by
//! `docker logs`, and the option validation texts.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn gz_text(path: &Path) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn attrs_details_tags_and_validation() {
    daemon!(d);
    d.docker(&[
        "run",
        "--name",
        "web",
        "-l",
        "app=shop",
        "-l",
        "tier=db",
        "-e",
        "REGION=eu west",
        "-e",
        "SECRET=x",
        "--log-opt",
        "labels=app,missing",
        "--log-opt",
        "env=REGION,NOPE",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}/{{.ImageName}}/{{.DaemonName}}",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo oops >&2",
    ])
    .ok();
    let id = d.inspect("web", "{{.Id}}");
    let tag = format!("web/{}/busybox/docker", &id[..12]);
    let log_path = PathBuf::from(d.inspect("web", "{{.LogPath}}"));
    let recs = records(&log_path);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for r in &recs {
        let attrs = r["attrs"].as_object().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(attrs.len(), 3, "{r}");
        assert_eq!(attrs["app"], "shop");
        assert_eq!(attrs["REGION"], "eu west");
        assert_eq!(attrs["tag"], tag.as_str());
    }
    // moby's field order: log, stream, attrs, time.
    let raw = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        raw.contains(&format!(
            r#""stream":"stdout","attrs":{{"REGION":"eu west","app":"shop","tag":"{tag}"}},"time":"#
        )),
        "{raw}"
    );

    // --details: sorted, url-encoded attrs and a space before each line.
    let prefix = format!("REGION=eu+west,app=shop,tag={} ", tag.replace('/', "%2F"));
    let o = d.docker(&["logs", "--details", "web"]);
    o.ok();
    assert_eq!(o.stdout, format!("{prefix}hello\n"));
    assert_eq!(o.stderr, format!("{prefix}oops\n"));
    let o = d.docker(&["logs", "--details", "--timestamps", "web"]);
    let line = o.ok().trim_end();
    let (ts, rest) = line.split_once(' ').unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 30, "{line}");
    assert_eq!(rest, format!("{prefix}hello"));
    assert_eq!(d.docker(&["logs", "web"]).ok(), "hello\n");

    // Regexps; no tag attribute unless the option is set.
    d.docker(&[
        "run",
        "--name",
        "rx",
        "-l",
        "com.example.team=core",
        "-l",
        "other=2",
        "-e",
        "X_ONE=1",
        "-e",
        "Y=2",
        "--log-opt",
        "labels-regex=^com\\.",
        "--log-opt",
        "env-regex=^X_",
        "busybox",
        "echo",
        "hi",
    ])
    .ok();
    let recs = records(Path::new(&d.inspect("rx", "{{.LogPath}}")));
    assert_eq!(
        recs[0]["attrs"],
        serde_json::json!({"com.example.team": "core", "X_ONE": "1"})
    );
    assert_eq!(
        d.docker(&["logs", "--details", "rx"]).ok(),
        "X_ONE=1,com.example.team=core hi\n"
    );

    // No options: no attrs key, and --details prints just the separating space.
    d.docker(&["run", "--name", "plain", "busybox", "echo", "bare"])
        .ok();
    let raw = std::fs::read_to_string(d.inspect("plain", "{{.LogPath}}")).unwrap();
    assert!(!raw.contains("attrs"), "{raw}");
    assert_eq!(d.docker(&["logs", "--details", "plain"]).ok(), " bare\n");

    // Validation, with moby's texts.
    let cases: &[(&[&str], &str)] = &[
        (&["x=1"], "unknown log opt 'x' for json-file log driver"),
        (
            &["compress=maybe"],
            "failed to initialize logging driver: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            &["compress=true", "max-file=3"],
            "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            &["compress=true", "max-size=1k"],
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            &["max-file=0"],
            "failed to initialize logging driver: max-file cannot be less than 1",
        ),
        (
            &["max-size=abc"],
            "failed to initialize logging driver: invalid size: 'abc'",
        ),
        (
            &["max-size=0"],
            "failed to initialize logging driver: max-size must be a positive number",
        ),
        (
            &["tag={{.Nope}}"],
            "can't evaluate field Nope in type *logger.Info",
        ),
    ];
    for (opts, want) in cases {
        let mut args = vec!["create"];
        for o in opts.iter() {
            args.push("--log-opt");
            args.push(o);
        }
        args.push("busybox");
        let o = d.docker(&args);
        assert_ne!(o.code, 0, "{opts:?} was accepted");
        assert!(o.stderr.contains(want), "{opts:?}: {}", o.stderr);
    }
    d.docker(&[
        "create",
        "--log-opt",
        "compress=true",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
    ])
    .ok();
}

#[test]
fn compressed_rotation_reads_back_in_order() {
    daemon!(d);
    // ~100-byte records, 1000-byte files: about ten lines a file, many rotations.
    d.docker(&[
        "run",
        "--name",
        "zz",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "--log-opt",
        "compress=true",
        "--log-opt",
        "labels=k",
        "-l",
        "k=v",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 80 ]; do echo line-$i; i=$((i+1)); done",
    ])
    .ok();
    let log = PathBuf::from(d.inspect("zz", "{{.LogPath}}"));
    let with = |ext: &str| {
        let mut s = log.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    // The monitor compresses in the background; it is done when `.1` is gone.
    common::wait_for("compressed rotation", Duration::from_secs(30), || {
        (with(".1.gz").exists() && with(".2.gz").exists() && !with(".1").exists()).then_some(())
    });
    assert!(!with(".2").exists() && !with(".3.gz").exists());
    // Every file is complete json-file text, attrs included; oldest first they hold
    // consecutive lines ending with the last one.
    let mut text = gz_text(&with(".2.gz"));
    text.push_str(&gz_text(&with(".1.gz")));
    text.push_str(&std::fs::read_to_string(&log).unwrap());
    let from_files: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["attrs"]["k"], "v");
            v["log"].as_str().unwrap().trim_end().to_string()
        })
        .collect();
    assert!(from_files.len() >= 15, "{from_files:?}");
    assert_eq!(from_files.last().unwrap(), "line-79");

    let out = d.docker(&["logs", "zz"]).out();
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got,
        from_files.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let first: usize = got[0].trim_start_matches("line-").parse().unwrap();
    let want: Vec<String> = (first..80).map(|i| format!("line-{i}")).collect();
    assert_eq!(got, want);
    // --tail spans files too.
    let tail = d.docker(&["logs", "--tail", "12", "zz"]).out();
    let want: Vec<String> = (68..80).map(|i| format!("line-{i}")).collect();
    assert_eq!(tail.lines().collect::<Vec<_>>(), want);

    // Without compress, rotated files stay plain.
    d.docker(&[
        "run",
        "--name",
        "pp",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 80 ]; do echo line-$i; i=$((i+1)); done",
    ])
    .ok();
    let plog = d.inspect("pp", "{{.LogPath}}");
    assert!(Path::new(&format!("{plog}.1")).exists() && Path::new(&format!("{plog}.2")).exists());
    assert!(!Path::new(&format!("{plog}.1.gz")).exists());
    let out = d.docker(&["logs", "pp"]).out();
    assert!(out.ends_with("line-79"), "{out}");
}
