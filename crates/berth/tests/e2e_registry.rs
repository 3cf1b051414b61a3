//! End-to-end: pulls from a real registry — Debian's `docker-registry` (distribution 2.8)
//! on 127.0.0.1, seeded by skopeo (an independent client) — through the docker CLI,
//! docker-py and our CLI: progress as moby streams it, RepoDigests, pull by digest, the
//! run-then-pull flow of a missing image, Basic auth from the client's config.json, and
//! moby's errors for a missing tag or repository.

mod common;

use common::TestDaemon;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `docker-registry serve` on a free loopback port, storage under `dir`; killed on drop.
struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    host: String,
}

/// The TLS files of a registry: its certificate and key, and the CA whose client
/// certificates it requires (none: any client).
struct TlsFiles<'a> {
    cert: &'a Path,
    key: &'a Path,
    client_ca: Option<&'a Path>,
}

impl Registry {
    fn start(dir: &Path, htpasswd: Option<&Path>) -> Registry {
        let auth = htpasswd
            .map(|p| {
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    p.display()
                )
            })
            .unwrap_or_default();
        Self::start_on("127.0.0.1", dir, &auth, None)
    }

    /// A registry on `ip` with `auth` (the config's `auth:` block, or nothing) and TLS.
    fn start_on(ip: &str, dir: &Path, auth: &str, tls: Option<TlsFiles>) -> Registry {
        let port = std::net::TcpListener::bind(format!("{ip}:0"))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("{ip}:{port}");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let tls = tls
            .map(|t| {
                let clients = t
                    .client_ca
                    .map(|c| format!("    clientcas:\n      - {}\n", c.display()))
                    .unwrap_or_default();
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n{clients}",
                    t.cert.display(),
                    t.key.display()
                )
            })
            .unwrap_or_default();
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{tls}{auth}",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry on {host} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, host }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// An image of two layers (busybox's and one with `/f` = `content`), saved to a
/// docker-archive and removed again: its first layer stays in the daemon, its second not.
fn make_archive(d: &TestDaemon, name: &str, content: &str) -> PathBuf {
    let c = format!("mk{}", common::random_hex(4));
    d.docker(&[
        "run",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        &format!("echo {content} > /f"),
    ])
    .ok();
    d.docker(&["commit", &c, name]).ok();
    d.docker(&["rm", &c]).ok();
    let tar = d.dir.join(format!("{}.tar", common::random_hex(4)));
    d.docker(&["save", "-o", tar.to_str().unwrap(), name]).ok();
    d.docker(&["rmi", name]).ok();
    tar
}

fn prerequisites() -> bool {
    common::can_run()
        && berth_testkit::require_program("docker-registry", "docker-registry")
        && berth_testkit::require_program("skopeo", "skopeo")
}

#[test]
fn pull_from_a_registry_as_docker_does() {
    if !prerequisites() {
        return;
    }
    let d = TestDaemon::start();
    let reg = Registry::start(&d.dir.join("registry"), None);
    let image = format!("{}/test/img:v1", reg.host);
    let tar = make_archive(&d, "test/img:v1", "pulled-content");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", tar.display()),
        &format!("docker://{image}"),
    ]);
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{image}"),
    ]);

    // docker pull: moby's stream as the CLI prints it.
    let out = d.docker(&["pull", &image]).ok().to_string();
    for want in [
        "v1: Pulling from test/img",
        "Already exists",
        "Pull complete",
        &format!("Digest: {digest}"),
        &format!("Status: Downloaded newer image for {image}"),
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    assert_eq!(
        d.inspect(&image, "{{json .RepoDigests}}").trim(),
        format!("[\"{}/test/img@{digest}\"]", reg.host)
    );
    let listed = d
        .docker(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ])
        .out();
    assert!(
        listed.contains(&format!("{}/test/img v1 {digest}", reg.host)),
        "{listed}"
    );
    assert!(d
        .docker(&["pull", &image])
        .ok()
        .contains(&format!("Status: Image is up to date for {image}")));
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "pulled-content"
    );

    // `docker run` of an image that is not here: 404, pull, create, run.
    d.docker(&["rmi", &image]).ok();
    let o = d.docker(&["run", "--rm", &image, "cat", "/f"]);
    assert_eq!(o.stdout.trim(), "pulled-content", "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&format!("Unable to find image '{image}' locally")),
        "{}",
        o.stderr
    );

    // By digest: the digest reference is the image's only name.
    d.docker(&["rmi", &image]).ok();
    let by_digest = format!("{}/test/img@{digest}", reg.host);
    d.docker(&["pull", &by_digest]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &by_digest, "cat", "/f"]).out(),
        "pulled-content"
    );
    assert_eq!(d.inspect(&by_digest, "{{json .RepoTags}}").trim(), "[]");
    d.docker(&["rmi", &by_digest]).ok();

    // Our CLI.
    let o = d.berth(&["pull", &image]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.trim_end().ends_with(&image), "{}", o.stdout);
    let o = d.berth(&["pull", "-q", &image]);
    assert_eq!(o.stdout.trim(), image);

    // docker-py.
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='unix://{}')\n\
         c.images.remove('{image}')\nimg = c.images.pull('{}/test/img', tag='v1')\nprint(img.tags, img.attrs['RepoDigests'])",
        d.sock.display(),
        reg.host
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        printed.contains(&image) && printed.contains(&digest),
        "{printed}"
    );

    // moby's errors, with the statuses the CLI relies on.
    let o = d.docker(&["pull", &format!("{}/test/img:nope", reg.host)]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(&format!(
            "manifest for {}/test/img:nope not found: manifest unknown: manifest unknown",
            reg.host
        )),
        "{}",
        o.stderr
    );
    // distribution 2.8 answers an unknown repository as an unknown manifest (Docker Hub
    // answers it with a denial: see the auth test).
    let o = d.docker(&["pull", &format!("{}/nope/x:1", reg.host)]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(&format!("manifest for {}/nope/x:1 not found", reg.host)),
        "{}",
        o.stderr
    );
    let o = d.docker(&["pull", "127.0.0.1:1/x:1"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("connection refused"), "{}", o.stderr);
}

#[test]
fn basic_auth_from_the_clients_config() {
    if !prerequisites() {
        return;
    }
    let d = TestDaemon::start();
    let dir = d.dir.join("registry");
    std::fs::create_dir_all(&dir).unwrap();
    // bcrypt, as distribution wants it (python3's crypt module, Debian 12's python).
    let hash = Command::new("/usr/bin/python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt;print(crypt.crypt('s3cret',crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert!(hash.starts_with("$2"), "{hash}");
    std::fs::write(dir.join("htpasswd"), format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(&dir, Some(&dir.join("htpasswd")));
    let image = format!("{}/private/img:v1", reg.host);
    let tar = make_archive(&d, "private/img:v1", "secret-content");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:s3cret",
        &format!("docker-archive:{}", tar.display()),
        &format!("docker://{image}"),
    ]);
    // Anonymous: refused, with the hint to log in.
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains(&format!(
            "pull access denied for {}/private/img, repository does not exist or may require 'docker login'",
            reg.host
        )),
        "{}",
        o.stderr
    );
    // `docker login` checks the credentials through the daemon (POST /auth) and stores
    // them; the next pull sends them as X-Registry-Auth.
    let o = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        b"wrong\n",
    );
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains("401") || o.stderr.contains("unauthorized"),
        "{}",
        o.stderr
    );
    let o = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        b"s3cret\n",
    );
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.stdout);
    d.docker(&["pull", &image]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "secret-content"
    );

    // One store for both CLIs: docker's login serves berth's pull, berth's logout ends it
    // for docker too, and berth's login serves docker's pull.
    d.docker(&["rmi", &image]).ok();
    d.berth(&["pull", &image]).ok();
    let o = d.berth(&["logout", &reg.host]);
    assert_eq!(
        o.stdout.trim(),
        format!("Removing login credentials for {}", reg.host)
    );
    d.docker(&["rmi", &image]).ok();
    assert_eq!(d.docker(&["pull", &image]).code, 1);
    assert_eq!(
        d.berth(&["logout", &reg.host]).stdout.trim(),
        format!("Not logged in to {}", reg.host)
    );
    let o = d.berth_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        b"nope\n",
    );
    assert_eq!(o.code, 1, "{}", o.all());
    let o = d.berth_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        b"s3cret\n",
    );
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.all());
    let cfg = std::fs::read_to_string(d.docker_config.join("config.json")).unwrap();
    assert!(cfg.contains(&reg.host), "{cfg}");
    d.docker(&["pull", &image]).ok();
    // A push needs the credentials too.
    let pushed = format!("{}/private/pushed:v1", reg.host);
    d.docker(&["tag", &image, &pushed]).ok();
    d.docker(&["push", &pushed]).ok();
    let o = d.docker(&["logout", &reg.host]);
    assert_eq!(o.code, 0, "{}", o.all());
    let o = d.docker(&["push", &pushed]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.all().contains("authentication required"), "{}", o.all());

    // A credential helper (`credsStore`, the docker-credential-* protocol), shared by both
    // CLIs: berth's login stores through it and docker's pull reads it; docker's logout
    // erases it and berth's pull is anonymous again.
    let helpers = d.dir.join("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    let store = d.dir.join("helper-store.json");
    let script = helpers.join("docker-credential-berthtest");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nstore={}\ncase \"$1\" in\n\
             store) cat > \"$store\" ;;\n\
             get) read -r url; if [ -f \"$store\" ] && grep -q \"$url\" \"$store\"; then cat \"$store\"; \
             else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
             erase) read -r url; rm -f \"$store\" ;;\n\
             list) echo '{{}}' ;;\nesac\n",
            store.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        d.docker_config.join("config.json"),
        r#"{"credsStore":"berthtest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helpers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_helper = |mut c: Command, stdin: Option<&[u8]>| {
        c.env("PATH", &path);
        common::run_cmd(c, stdin, Duration::from_secs(120))
    };
    let login = [
        "login",
        "-u",
        "alice",
        "--password-stdin",
        reg.host.as_str(),
    ];
    let o = with_helper(d.berth_cmd(&login), Some(b"s3cret\n"));
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(std::fs::read_to_string(&store).unwrap().contains("s3cret"));
    let cfg = std::fs::read_to_string(d.docker_config.join("config.json")).unwrap();
    assert!(!cfg.contains("s3cret"), "{cfg}");
    d.docker(&["rmi", &image]).ok();
    let o = with_helper(d.docker_cmd(&["pull", &image]), None);
    assert_eq!(o.code, 0, "{}", o.all());
    let o = with_helper(d.docker_cmd(&["logout", &reg.host]), None);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!store.exists());
    d.docker(&["rmi", &image]).ok();
    let o = with_helper(d.berth_cmd(&["pull", &image]), None);
    assert_eq!(o.code, 1, "{}", o.all());
    let o = with_helper(d.docker_cmd(&login), Some(b"s3cret\n"));
    assert_eq!(o.code, 0, "{}", o.all());
    let o = with_helper(d.berth_cmd(&["pull", &image]), None);
    assert_eq!(o.code, 0, "{}", o.all());

    // The password never reaches the daemon's log.
    assert!(!d.daemon_log().contains("s3cret"));
}

/// `tests/compat/token_server.py`: Docker's token server for distribution's `auth: token`
/// mode (JWTs it signs with a certificate the registry trusts); stopped on drop.
struct TokenServer {
    _server: ScriptServer,
    /// `http://127.0.0.1:<port>/token`.
    realm: String,
}

impl TokenServer {
    fn start(key: &Path, cert: &Path) -> TokenServer {
        let server = ScriptServer::start(
            "token_server.py",
            &[
                "--key".as_ref(),
                key.as_os_str(),
                "--cert".as_ref(),
                cert.as_os_str(),
                "--issuer".as_ref(),
                "berth-test-issuer".as_ref(),
                "--service".as_ref(),
                "berth-test".as_ref(),
            ],
        );
        TokenServer {
            realm: format!("http://127.0.0.1:{}/token", server.port),
            _server: server,
        }
    }
}

/// distribution 2.8 behind a token server (Docker Hub's scheme): anonymous pulls of a public
/// repository, a private one denied until `docker login`, which gets an identity (refresh)
/// token that later pulls and pushes trade for access tokens; zstd layers and a multi-arch
/// index seeded by skopeo, pulled by platform, and the zstd image pushed as it came.
#[test]
fn token_auth_zstd_and_multi_arch_with_a_real_registry() {
    if !prerequisites() || !berth_testkit::require_program("openssl", "openssl") {
        return;
    }
    let d = TestDaemon::start();
    let pki = d.dir.join("token-pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-days",
            "2",
            "-subj",
            "/CN=berth test token issuer",
        ],
    );
    let tokens = TokenServer::start(&pki.join("token.key"), &pki.join("token.crt"));
    let auth = format!(
        "auth:\n  token:\n    realm: {}\n    service: berth-test\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
        tokens.realm,
        pki.join("token.crt").display()
    );
    let reg = Registry::start_on("127.0.0.1", &d.dir.join("reg-token"), &auth, None);
    let h = &reg.host;
    let tar = make_archive(&d, "tok/img:v1", "behind-tokens");
    // Its own top layer, so that the zstd blob is the one the daemon keeps for it.
    let zstd_tar = make_archive(&d, "tok/zstd:v1", "zstd-layers");
    for (repo, extra) in [
        ("public/img:v1", vec![]),
        ("private/img:v1", vec![]),
        (
            "zstd/img:v1",
            vec!["--format", "oci", "--dest-compress-format", "zstd"],
        ),
    ] {
        let mut args = vec![
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
        ];
        args.extend(extra);
        let archive = if repo.starts_with("zstd/") {
            &zstd_tar
        } else {
            &tar
        };
        let src = format!("docker-archive:{}", archive.display());
        let dst = format!("docker://{h}/{repo}");
        args.extend([src.as_str(), dst.as_str()]);
        skopeo(&args);
    }

    // Anonymous: public pulled, private denied.
    let public = format!("{h}/public/img:v1");
    d.docker(&["pull", &public]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &public, "cat", "/f"]).out(),
        "behind-tokens"
    );
    let private = format!("{h}/private/img:v1");
    let o = d.docker(&["pull", &private]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("pull access denied for"), "{}", o.stderr);
    let o = d.docker_stdin(&["login", "-u", "alice", "--password-stdin", h], b"wrong\n");
    assert_eq!(o.code, 1, "{}", o.all());
    let o = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", h],
        b"s3cret\n",
    );
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.all());
    // The registry issued an identity token: the CLI keeps it instead of the password.
    let cfg = std::fs::read_to_string(d.docker_config.join("config.json")).unwrap();
    assert!(cfg.contains("identitytoken"), "{cfg}");
    d.docker(&["pull", &private]).ok();
    let pushed = format!("{h}/private/pushed:v2");
    d.docker(&["tag", &private, &pushed]).ok();
    d.docker(&["push", &pushed]).ok();
    d.docker(&["logout", h]).ok();
    d.docker(&["rmi", &private]).ok();
    assert_eq!(d.docker(&["pull", &private]).code, 1);

    // zstd layers: pulled, run, and pushed back as zstd (no recompression).
    let zstd = format!("{h}/zstd/img:v1");
    d.docker(&["pull", &zstd]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &zstd, "cat", "/f"]).out(),
        "zstd-layers"
    );
    d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", h],
        b"s3cret\n",
    )
    .ok();
    let again = format!("{h}/zstd/again:v1");
    d.docker(&["tag", &zstd, &again]).ok();
    d.docker(&["push", &again]).ok();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret",
        &format!("docker://{again}"),
    ]);
    assert!(
        raw.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{raw}"
    );

    // A multi-arch index (amd64 and arm64 manifests over the same layers): the host's
    // platform by default, another with --platform.
    let layout = d.dir.join("multi");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let o = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(MAKE_INDEX)
        .arg(&layout)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:s3cret",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{h}/multi/img:v1"),
    ]);
    let multi = format!("{h}/multi/img:v1");
    d.docker(&["pull", &multi]).ok();
    assert_eq!(d.inspect(&multi, "{{.Architecture}}"), "amd64");
    assert_eq!(
        d.docker(&["run", "--rm", &multi, "cat", "/f"]).out(),
        "behind-tokens"
    );
    d.docker(&["rmi", &multi]).ok();
    d.docker(&["pull", "--platform", "linux/arm64", &multi])
        .ok();
    assert_eq!(d.inspect(&multi, "{{.Architecture}}"), "arm64");
    let o = d.docker(&["pull", "--platform", "linux/s390x", &multi]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains("no matching manifest for linux/s390x"),
        "{}",
        o.stderr
    );
}

/// Turns the OCI layout in argv[1] (one amd64 image tagged v1) into an index of an amd64
/// and an arm64 manifest (the arm64 config differs only in its architecture).
const MAKE_INDEX: &str = r#"
import hashlib, json, os, sys
out = sys.argv[1]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return "sha256:" + h, len(b)
def get(d):
    return open(f"{out}/blobs/sha256/{d.split(':')[1]}", "rb").read()
index = json.load(open(f"{out}/index.json"))
desc = index["manifests"][0]
man = json.loads(get(desc["digest"]))
cfg = json.loads(get(man["config"]["digest"]))
cfg["architecture"] = "arm64"
cd, cn = put(json.dumps(cfg).encode())
arm = dict(man, config=dict(man["config"], digest=cd, size=cn))
ad, an = put(json.dumps(arm).encode())
mt = man.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
entries = [
    {"mediaType": mt, "digest": desc["digest"], "size": desc["size"], "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": mt, "digest": ad, "size": an, "platform": {"architecture": "arm64", "os": "linux"}},
]
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).encode()
xd, xn = put(idx)
index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xn,
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}]
json.dump(index, open(f"{out}/index.json", "w"))
"#;

/// A python server of `tests/compat/` that prints `PORT <n>` when it listens and stops when
/// its stdin closes; killed on drop.
struct ScriptServer {
    child: Child,
    port: String,
}

impl ScriptServer {
    fn start(script: &str, args: &[&std::ffi::OsStr]) -> ScriptServer {
        use std::io::BufRead;
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/compat")
            .join(script);
        let mut child = Command::new("/usr/bin/python3")
            .arg(path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("{script} printed no PORT line: {line:?}"))
            .to_string();
        ScriptServer { child, port }
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/compat/fake_registry.py`: Bearer tokens and hostile behaviours; stopped on drop.
struct FakeRegistry {
    _server: ScriptServer,
    host: String,
}

impl FakeRegistry {
    fn start(layout: &Path, marker: &str) -> FakeRegistry {
        let server = ScriptServer::start(
            "fake_registry.py",
            &[
                "--layout".as_ref(),
                layout.as_os_str(),
                "--marker".as_ref(),
                marker.as_ref(),
            ],
        );
        FakeRegistry {
            host: format!("127.0.0.1:{}", server.port),
            _server: server,
        }
    }
}

/// Bearer tokens (anonymous and with credentials), and registries that lie: every pull
/// fails with a clear error, leaves no image and nothing outside the data root, and the
/// daemon pulls the honest image right after.
#[test]
fn bearer_tokens_and_hostile_registries() {
    if !prerequisites() {
        return;
    }
    let d = TestDaemon::start();
    let tar = make_archive(&d, "test/img:v1", "fake-content");
    let layout = d.dir.join("layout");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let marker = common::random_hex(6);
    let reg = FakeRegistry::start(&layout, &marker);
    let h = &reg.host;

    // First the lies, while the daemon has none of the image's own layer.
    let images_before = d.docker(&["images", "-q", "--no-trunc"]).out();
    let cases: [(&str, &str); 8] = [
        (
            "bad-digest",
            "filesystem layer verification failed for digest",
        ),
        ("truncated", "read from registry"),
        ("endless", "larger than"),
        ("err500", "error pulling blob"),
        ("huge-manifest", "exceeds the limit of 4194304 bytes"),
        ("traversal", ""),
        ("schema1", "schema 1 support has been removed"),
        (
            "multiarch",
            "no matching manifest for linux/amd64 in the manifest list entries",
        ),
    ];
    for (repo, want) in cases {
        let image = format!("{h}/{repo}/img:v1");
        let o = d.docker(&["pull", &image]);
        eprintln!("{repo}: {}", o.stderr.trim());
        assert_ne!(o.code, 0, "{repo}: pulled:\n{}", o.all());
        assert!(o.stderr.contains(want), "{repo}: {}", o.all());
        assert!(!o.all().contains("panicked"), "{repo}: {}", o.all());
        assert_eq!(
            d.docker(&["images", "-q", "--no-trunc"]).out(),
            images_before,
            "{repo}: a partial image is listed"
        );
    }
    // Anonymous token for a public repository.
    let public = format!("{h}/public/img:v1");
    d.docker(&["pull", &public]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &public, "cat", "/f"]).out(),
        "fake-content"
    );

    // A private repository: denied anonymously, pulled with credentials.
    let private = format!("{h}/private/img:v1");
    let o = d.docker(&["pull", &private]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("pull access denied for"), "{}", o.stderr);
    let o = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", h],
        b"s3cret\n",
    );
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.all());
    d.docker(&["pull", &private]).ok();

    // Nothing the traversal layer named was written anywhere.
    for p in [
        PathBuf::from(format!("/escape-abs-{marker}")),
        PathBuf::from(format!("/tmp/escape-{marker}")),
        d.dir.join(format!("escape-{marker}")),
        d.data_root.join(format!("escape-{marker}")),
        d.data_root.join(format!("image/escape-{marker}")),
    ] {
        assert!(!p.exists(), "{} was written", p.display());
    }
    // The daemon is fine: the honest image still pulls and runs.
    d.docker(&["rmi", &public]).ok();
    d.docker(&["pull", &public]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &public, "cat", "/f"]).out(),
        "fake-content"
    );

    // A registry that takes blobs in chunks only (OCI-Chunk-Min-Length, Content-Range):
    // a 3 MB layer goes in several PATCHes, and comes back by pull.
    d.docker(&[
        "run",
        "--name",
        "chunky",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /r && md5sum /r > /sum",
    ])
    .ok();
    let chunked = format!("{h}/chunked/img:v1");
    d.docker(&["commit", "chunky", &chunked]).ok();
    let sum = d.docker(&["run", "--rm", &chunked, "cat", "/sum"]).out();
    let o = d.docker(&["push", &chunked]);
    assert_eq!(o.code, 0, "{}", o.all());
    d.docker(&["rm", "chunky"]).ok();
    d.docker(&["rmi", &chunked]).ok();
    d.docker(&["pull", &chunked]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &chunked, "md5sum", "/r"]).out(),
        sum
    );
}

/// `docker search` through the daemon (the index's v1 search API, here the fake registry's):
/// docker's table from both CLIs, limits, filters and credentials; a layer served from
/// another host after a redirect (a CDN) without the registry's Authorization; and
/// `registry-mirrors`, which serve Docker Hub images before Docker Hub is asked.
#[test]
fn search_cdn_redirects_and_mirrors() {
    if !prerequisites() {
        return;
    }
    let d = TestDaemon::start();
    let tar = make_archive(&d, "test/img:v1", "cdn-content");
    let layout = d.dir.join("layout");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let reg = FakeRegistry::start(&layout, &common::random_hex(6));
    let h = &reg.host;

    // A layer redirected to another host.
    let image = format!("{h}/redirect/img:v1");
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "cdn-content"
    );

    // Search: the same table from docker and berth.
    let term = format!("{h}/busybox");
    let by_docker = d.docker(&["search", &term]);
    assert_eq!(by_docker.code, 0, "{}", by_docker.all());
    let lines: Vec<&str> = by_docker.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", by_docker.stdout);
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("OFFICIAL"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("busybox ") && lines[1].ends_with("[OK]"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("…"), "{}", lines[2]);
    let by_berth = d.berth(&["search", &term]);
    assert_eq!(by_berth.code, 0, "{}", by_berth.all());
    assert_eq!(by_berth.stdout, by_docker.stdout);
    for args in [
        vec!["--limit", "1"],
        vec!["--filter", "is-official=true"],
        vec!["--filter", "stars=10"],
        vec!["--no-trunc"],
        vec!["--format", "{{.Name}}: {{.StarCount}} {{.IsOfficial}}"],
    ] {
        let mut full = vec!["search"];
        full.extend(&args);
        full.push(&term);
        let (a, b) = (d.docker(&full), d.berth(&full));
        assert_eq!(a.code, 0, "{args:?}: {}", a.all());
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    let rows = |args: &[&str]| {
        let mut full = vec!["search"];
        full.extend(args);
        full.push(&term);
        d.docker(&full).stdout.lines().count() - 1
    };
    assert_eq!(rows(&["--limit", "1"]), 1);
    assert_eq!(rows(&["--filter", "is-official=true"]), 1);
    assert_eq!(rows(&["--filter", "stars=10"]), 2);
    assert!(d
        .docker(&["search", "--no-trunc", &term])
        .stdout
        .contains("cut across two lines"));
    for (args, want) in [
        (
            vec!["--limit", "101"],
            "limit 101 is outside the range of [1, 100]",
        ),
        (vec!["--filter", "color=red"], "invalid filter 'color'"),
        (
            vec!["--filter", "stars=many"],
            "invalid filter 'stars=many'",
        ),
    ] {
        let mut full = vec!["search"];
        full.extend(&args);
        full.push(&term);
        for o in [d.docker(&full), d.berth(&full)] {
            assert_eq!(o.code, 1, "{args:?}: {}", o.all());
            assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
        }
    }
    // docker-py's search, and the client's credentials reaching the index.
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='unix://{}')\n\
         print(sorted(r['name'] for r in c.images.search('{term}')))",
        d.sock.display()
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "['busybox', 'other/busybox', 'someone/busybox-tools']"
    );
    d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", h],
        b"s3cret\n",
    )
    .ok();
    assert!(d
        .docker(&["search", &term])
        .stdout
        .contains("alice/private-busybox"));

    // A Docker Hub image from the mirror (the daemon never asks Docker Hub for it).
    let m = TestDaemon::start_with(common::DaemonOptions {
        args: vec!["--registry-mirror".into(), format!("http://{h}")],
        ..Default::default()
    });
    assert_eq!(
        m.docker(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"])
            .out(),
        format!("[\"http://{h}/\"]")
    );
    let o = m.docker(&["pull", "mirrored/img:v1"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(
        o.stdout.contains("docker.io/mirrored/img:v1"),
        "{}",
        o.stdout
    );
    assert_eq!(
        m.docker(&["run", "--rm", "mirrored/img:v1", "cat", "/f"])
            .out(),
        "cdn-content"
    );
}

/// `docker push` of a committed image: layers gzipped and uploaded, config and manifest
/// put; a second push finds every layer there, a push to another repository of the
/// registry mounts them; skopeo sees what was pushed, and a pull brings it back.
#[test]
fn push_to_a_registry_as_docker_does() {
    if !prerequisites() {
        return;
    }
    let d = TestDaemon::start();
    let reg = Registry::start(&d.dir.join("registry"), None);
    let c = "pushsrc";
    d.docker(&[
        "run",
        "--name",
        c,
        "busybox",
        "sh",
        "-c",
        "echo pushed-content > /f",
    ])
    .ok();
    let image = format!("{}/pushed/img:v1", reg.host);
    d.docker(&["commit", c, &image]).ok();

    let out = d.docker(&["push", &image]).ok().to_string();
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/pushed/img]",
            reg.host
        )),
        "{out}"
    );
    assert_eq!(out.matches(": Pushed").count(), 2, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("v1: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line in:\n{out}"));
    let digest = line.split_whitespace().nth(2).unwrap().to_string();
    let remote = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{image}"),
    ]);
    assert_eq!(remote, digest);
    assert!(d.inspect(&image, "{{json .RepoDigests}}").contains(&digest));

    // Again: nothing to upload.
    let out = d.docker(&["push", &image]).ok().to_string();
    assert_eq!(out.matches("Layer already exists").count(), 2, "{out}");
    assert!(out.contains(&digest), "{out}");
    // Another repository of the same registry: the layers are mounted, not uploaded.
    let other = format!("{}/other/img:v2", reg.host);
    d.docker(&["tag", &image, &other]).ok();
    let out = d.docker(&["push", &other]).ok().to_string();
    assert_eq!(out.matches("Mounted from pushed/img").count(), 2, "{out}");

    // What was pushed comes back by pull, and runs.
    d.docker(&["rm", c]).ok();
    d.docker(&["rmi", &image, &other]).ok();
    d.docker(&["pull", &image]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "pushed-content"
    );

    // On a terminal both CLIs redraw one line per layer in place, with its bar.
    for cli in ["docker", "berth"] {
        d.docker(&["rmi", &image]).ok();
        let line = if cli == "docker" {
            format!("{} pull {image}", common::DOCKER)
        } else {
            format!(
                "{} -H {} pull {image}",
                env!("CARGO_BIN_EXE_berth"),
                d.host()
            )
        };
        // docker_cmd's environment, for `script` and the CLI it runs on a terminal.
        let c = d.docker_cmd(&[]);
        let mut script = Command::new("script");
        script.args(["-qec", &line, "/dev/null"]);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        let o = common::run_cmd(script, None, Duration::from_secs(120));
        assert_eq!(o.code, 0, "{cli}: {}", o.all());
        assert!(o.stdout.contains("\x1b[2K"), "{cli}: {:?}", o.stdout);
        assert!(o.stdout.contains("Pull complete"), "{cli}: {:?}", o.stdout);
    }

    // Our CLI and docker-py.
    let third = format!("{}/third/img:v3", reg.host);
    d.docker(&["tag", &image, &third]).ok();
    let o = d.berth(&["push", &third]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("v3: digest: sha256:"), "{}", o.stdout);
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='unix://{}')\n\
         out = c.images.push('{}/third/img', tag='v3', stream=True, decode=True)\n\
         print([l for l in out if 'aux' in l])",
        d.sock.display(),
        reg.host
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        printed.contains("'Tag': 'v3'") && printed.contains("'Digest': 'sha256:"),
        "{printed}"
    );
    // What the registry says without a pull (GET /distribution/{name}/json).
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='unix://{}')\n\
         rd = c.images.get_registry_data('{image}')\nprint(rd.id, rd.has_platform('linux/amd64'))",
        d.sock.display()
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("{digest} True")
    );

    // Every tag of a repository (`pull --all-tags`), with both CLIs.
    let v9 = format!("{}/pushed/img:v9", reg.host);
    d.docker(&["tag", &image, &v9]).ok();
    d.docker(&["push", &v9]).ok();
    for cli in ["docker", "berth"] {
        d.docker(&["rmi", &image, &v9]).ok();
        let args = ["pull", "-a", &format!("{}/pushed/img", reg.host)];
        let o = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        assert_eq!(o.code, 0, "{cli}: {}", o.all());
        assert!(
            o.stdout.contains("v1: Pulling from pushed/img"),
            "{cli}: {}",
            o.stdout
        );
        assert!(
            o.stdout.contains("v9: Pulling from pushed/img"),
            "{cli}: {}",
            o.stdout
        );
        let tags = d
            .docker(&[
                "images",
                "--format",
                "{{.Tag}}",
                &format!("{}/pushed/img", reg.host),
            ])
            .out();
        assert_eq!(
            tags.lines().collect::<std::collections::BTreeSet<_>>(),
            ["v1", "v9"].into(),
            "{cli}"
        );
    }

    // Every local tag of a repository (`push --all-tags`), with both CLIs.
    let all = format!("{}/all/img", reg.host);
    for t in ["a", "b"] {
        d.docker(&["tag", &image, &format!("{all}:{t}")]).ok();
    }
    for cli in ["docker", "berth"] {
        let args = ["push", "-a", &all];
        let o = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        assert_eq!(o.code, 0, "{cli}: {}", o.all());
        assert_eq!(
            o.stdout.matches("The push refers to repository").count(),
            1,
            "{cli}: {}",
            o.stdout
        );
        for t in ["a", "b"] {
            assert!(
                o.stdout.contains(&format!("{t}: digest: {digest}")),
                "{cli}: {}",
                o.stdout
            );
        }
    }
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{all}"),
    ]);
    assert!(tags.contains("\"a\"") && tags.contains("\"b\""), "{tags}");
    let o = d.docker(&["push", "-a", &format!("{}/none/img", reg.host)]);
    assert_eq!(o.code, 1, "{}", o.all());

    // moby's words for an image that is not here, and for a registry that is not there.
    let o = d.docker(&["push", &format!("{}/nope/img:v1", reg.host)]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(&format!(
            "An image does not exist locally with the tag: {}/nope/img",
            reg.host
        )),
        "{}",
        o.stderr
    );
    d.docker(&["tag", &image, "127.0.0.1:1/x:1"]).ok();
    let o = d.docker(&["push", "127.0.0.1:1/x:1"]);
    assert_eq!(o.code, 1);
    assert!(o.all().contains("connection refused"), "{}", o.all());
}

/// A daemon killed (-9) in the middle of a pull: the next one has no part of the image (no
/// name, no config, nothing left in the store's temporary space), and the same pull then
/// succeeds.
#[test]
fn kill_9_mid_pull_leaves_nothing_and_the_pull_can_be_repeated() {
    if !prerequisites() {
        return;
    }
    let mut d = TestDaemon::start();
    let tar = make_archive(&d, "test/img:v1", "after-the-crash");
    let layout = d.dir.join("layout");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let reg = FakeRegistry::start(&layout, &common::random_hex(6));
    let image = format!("{}/slow/img:v1", reg.host);
    let mut pull = d.docker_cmd(&["pull", &image]);
    let mut child = pull
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the layer download has begun (its blob is being written).
    let tmp = d.data_root.join("image/tmp");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the pull never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill9();
    let _ = child.kill();
    let _ = child.wait();
    d.restart_daemon();
    assert_ne!(d.docker(&["image", "inspect", &image]).code, 0);
    assert!(!d
        .docker(&["images", "--format", "{{.Repository}}"])
        .out()
        .contains("slow/img"));
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "leftovers in {}",
        tmp.display()
    );
    d.docker(&["pull", &image]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "after-the-crash"
    );
}

/// A bridge without ports holding one address of its own, so that a registry has a non-loopback
/// address (loopback registries are insecure by default, as in Docker); removed on drop.
struct DummyAddress {
    link: String,
    ip: String,
}

impl DummyAddress {
    fn add() -> DummyAddress {
        let hex = common::random_hex(4);
        let ip = format!(
            "10.253.{}.{}",
            u8::from_str_radix(&hex[..2], 16).unwrap(),
            1 + u8::from_str_radix(&hex[2..4], 16).unwrap() % 250
        );
        let link = format!("btr{}", common::random_hex(4));
        let me = DummyAddress { link, ip };
        for args in [
            vec!["link", "add", &me.link, "type", "bridge"],
            vec!["addr", "add", &format!("{}/32", me.ip), "dev", &me.link],
            vec!["link", "set", &me.link, "up"],
        ] {
            let o = Command::new("ip").args(&args).output().unwrap();
            assert!(
                o.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        me
    }
}

impl Drop for DummyAddress {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
    }
}

/// `openssl` with its output checked.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A certificate `name.crt`/`name.key` signed by the CA in `dir`, with `ext` (v3 extensions).
fn issue(dir: &Path, name: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// TLS to a registry that is not on loopback: refused without its CA, trusted with the CA
/// in `certs.d/<host:port>/ca.crt`; a registry that wants client certificates gets the
/// `client.cert`/`client.key` pair; a certificate without its key is named in the error.
#[test]
fn tls_with_certs_d_cas_and_client_certificates() {
    if !prerequisites() || !berth_testkit::require_program("openssl", "openssl") {
        return;
    }
    let certs_d = std::env::temp_dir().join(format!("bt-certs-{}", common::random_hex(4)));
    let d = TestDaemon::start_with(common::DaemonOptions {
        args: vec!["--registry-certs-dir".into(), certs_d.display().to_string()],
        ..Default::default()
    });
    let pki = d.dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=berth test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let addr = DummyAddress::add();
    issue(
        &pki,
        "server",
        &format!(
            "subjectAltName=IP:{}\nextendedKeyUsage=serverAuth\n",
            addr.ip
        ),
    );
    issue(&pki, "client", "extendedKeyUsage=clientAuth\n");
    let (cert, key, ca) = (
        pki.join("server.crt"),
        pki.join("server.key"),
        pki.join("ca.crt"),
    );
    let open = Registry::start_on(
        &addr.ip,
        &d.dir.join("reg-tls"),
        "",
        Some(TlsFiles {
            cert: &cert,
            key: &key,
            client_ca: None,
        }),
    );
    let mutual = Registry::start_on(
        &addr.ip,
        &d.dir.join("reg-mtls"),
        "",
        Some(TlsFiles {
            cert: &cert,
            key: &key,
            client_ca: Some(&ca),
        }),
    );
    let tar = make_archive(&d, "tls/img:v1", "over-tls");
    // skopeo's certificate folder, laid out as certs.d.
    let seed = d.dir.join("seed-certs");
    std::fs::create_dir_all(&seed).unwrap();
    std::fs::copy(&ca, seed.join("ca.crt")).unwrap();
    std::fs::copy(pki.join("client.crt"), seed.join("client.cert")).unwrap();
    std::fs::copy(pki.join("client.key"), seed.join("client.key")).unwrap();
    let ca_dir = format!("--dest-cert-dir={}", seed.display());
    for reg in [&open, &mutual] {
        skopeo(&[
            "copy",
            &ca_dir,
            &format!("docker-archive:{}", tar.display()),
            &format!("docker://{}/tls/img:v1", reg.host),
        ]);
    }
    let dir_of = |reg: &Registry| {
        let p = certs_d.join(&reg.host);
        std::fs::create_dir_all(&p).unwrap();
        p
    };

    // Unknown CA: refused.
    let image = format!("{}/tls/img:v1", open.host);
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        o.stderr
    );
    // Its CA in certs.d: pulled (read at each connection, no restart).
    std::fs::copy(&ca, dir_of(&open).join("ca.crt")).unwrap();
    d.docker(&["pull", &image]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", &image, "cat", "/f"]).out(),
        "over-tls"
    );

    // A registry that wants a client certificate.
    let image = format!("{}/tls/img:v1", mutual.host);
    let mdir = dir_of(&mutual);
    std::fs::copy(&ca, mdir.join("ca.crt")).unwrap();
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.code, 1, "{}", o.all());
    std::fs::copy(pki.join("client.crt"), mdir.join("client.cert")).unwrap();
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr
            .contains("missing key client.key for client certificate client.cert"),
        "{}",
        o.stderr
    );
    std::fs::copy(pki.join("client.key"), mdir.join("client.key")).unwrap();
    d.docker(&["pull", &image]).ok();
    // Push over mutual TLS too.
    let pushed = format!("{}/tls/pushed:v2", mutual.host);
    d.docker(&["tag", &image, &pushed]).ok();
    d.docker(&["push", &pushed]).ok();
    drop((open, mutual));
    let _ = std::fs::remove_dir_all(&certs_d);
}
