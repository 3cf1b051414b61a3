#!/usr/bin/env python3
"""Smoke test of berth against docker-py (PyPI `docker` 7.x), unmodified.

Run with DOCKER_HOST=unix:///path/to/berth.sock against a daemon that has busybox:latest
(the e2e harness imports it with CMD ["sh"]). Prints one line per check; exits 1 with a
clear message at the first failed check (SMOKE_KEEP_GOING=1 runs them all, for debugging).
Needs no network, no volumes and no registry. Everything it creates is named
`dpy-<random>-...` and removed at the end.
"""

import io
import os
import secrets
import socket
import sys
import tarfile
import threading
import time
import traceback

import docker
from docker.utils.socket import frames_iter

TAG = "dpy-" + secrets.token_hex(4)
KEEP_GOING = os.environ.get("SMOKE_KEEP_GOING") == "1"
FAILED = []
client = None


def name(suffix):
    return f"{TAG}-{suffix}"


def check(what):
    """Decorator: runs the function now as one named check."""

    def run(fn):
        t = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {what}: {detail}", flush=True)
            traceback.print_exc()
            FAILED.append(what)
            if not KEEP_GOING:
                cleanup()
                sys.exit(f"docker-py smoke test failed at: {what}: {detail}")
        else:
            print(f"ok   {what} ({time.monotonic() - t:.2f}s)", flush=True)
        return fn

    return run


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_until(what, pred, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def expect_raises(exc_type, fn):
    try:
        fn()
    except exc_type as e:
        return e
    raise AssertionError(f"expected {exc_type.__name__}")


def cleanup():
    if client is None:
        return
    try:
        for c in client.containers.list(all=True, filters={"name": TAG}):
            try:
                c.remove(force=True)
            except docker.errors.APIError:
                pass
        for img in client.images.list():
            for t in img.tags:
                if TAG in t or t.startswith("imp-" + TAG):
                    try:
                        client.images.remove(t, force=True)
                    except docker.errors.APIError:
                        pass
    except Exception as e:  # noqa: BLE001 - best effort
        print(f"(cleanup: {e})", file=sys.stderr)


def long_running(suffix, **kw):
    """A detached busybox that runs until stopped and exits 0 on SIGTERM, once its trap is set.

    (As pid 1 of its namespace, a shell without the trap ignores SIGTERM, on docker too.)
    """
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"],
        detach=True,
        name=name(suffix),
        **kw,
    )
    wait_until(f"{c.name} to be ready", lambda: b"ready" in c.logs())
    return c


# ---------------------------------------------------------------- system


@check("from_env")
def _():
    global client
    expect(os.environ.get("DOCKER_HOST"), "DOCKER_HOST is not set")
    client = docker.from_env(timeout=60)


@check("ping")
def _():
    expect(client.ping() is True, "ping did not return True")


@check("version")
def _():
    v = client.version()
    for k in ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "KernelVersion"):
        expect(k in v, f"version lacks {k}: {v}")
    expect(v["Os"] == "linux", f"Os is {v['Os']}")
    expect(client.api.api_version == v["ApiVersion"] or client.api.api_version,
           "no negotiated api version")


@check("info")
def _():
    i = client.info()
    for k in ("Containers", "Images", "Driver", "OperatingSystem", "NCPU", "MemTotal", "ID"):
        expect(k in i, f"info lacks {k}")
    expect(i["NCPU"] >= 1, "NCPU < 1")


t0 = time.time() - 1  # events' since is in whole seconds

# ---------------------------------------------------------------- run


@check("containers.run returns output bytes")
def _():
    out = client.containers.run("busybox", "echo hi", name=name("echo"))
    expect(out == b"hi\n", f"output is {out!r}")
    c = client.containers.get(name("echo"))
    expect(c.status == "exited", f"status {c.status}")
    c.remove()


@check("containers.run(remove=True)")
def _():
    out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"],
                                remove=True, name=name("rm"), stderr=True)
    expect(b"out\n" in out and b"err\n" in out, f"output is {out!r}")
    # run() removes after wait(); the container is gone (or on its way out).
    wait_until("auto-removed container to go",
               lambda: not client.containers.list(all=True, filters={"name": name("rm")}))


@check("run(network_disabled=True): only a loopback, and it is up")
def _():
    out = client.containers.run("busybox", ["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate"],
                                network_disabled=True, remove=True, name=name("nonet"))
    expect(out.split() == [b"lo", b"unknown"], f"output is {out!r}")


@check("ContainerError from a failing run")
def _():
    e = expect_raises(docker.errors.ContainerError,
                      lambda: client.containers.run("busybox", "sh -c 'echo oops >&2; exit 3'",
                                                    name=name("fail")))
    expect(e.exit_status == 3, f"exit_status {e.exit_status}")
    expect(b"oops" in (e.stderr or b""), f"stderr {e.stderr!r}")
    client.containers.get(name("fail")).remove()


def cap_eff(out):
    line = [l for l in out.decode().splitlines() if l.startswith("CapEff:")]
    expect(line, f"no CapEff in {out!r}")
    return int(line[0].split()[1], 16)


@check("capabilities: docker's defaults, cap_add/cap_drop")
def _():
    # Regression: berth once gave containers no capabilities at all and refused cap_add.
    with open("/proc/self/status") as f:
        bnd = [int(l.split()[1], 16) for l in f if l.startswith("CapBnd:")][0]
    default = 0xA80425FB & bnd  # docker's 14 default capabilities
    out = client.containers.run("busybox", "grep CapEff /proc/self/status", remove=True)
    expect(cap_eff(out) == default, f"default CapEff {cap_eff(out):016x}, want {default:016x}")
    out = client.containers.run("busybox", "grep CapEff /proc/self/status", remove=True,
                                cap_add=["NET_ADMIN"], cap_drop=["CAP_CHOWN"])
    want = (default | (1 << 12) & bnd) & ~1
    expect(cap_eff(out) == want, f"cap_add/drop CapEff {cap_eff(out):016x}, want {want:016x}")
    out = client.containers.run("busybox", "sh -c 'touch /f && chown 5:5 /f && stat -c %u /f'",
                                remove=True)
    expect(out == b"5\n", f"chown as root gave {out!r}")


@check("ImageNotFound for a missing image")
def _():
    expect_raises(docker.errors.ImageNotFound,
                  lambda: client.containers.create("nosuchimage-" + TAG + ":1"))


main = None


@check("run(detach=True), reload, status, attrs")
def _():
    global main
    main = long_running("main", labels={"k": "v", TAG: "1"}, hostname="pyhost",
                        environment={"FOO": "bar"})
    main.reload()
    expect(main.status == "running", f"status {main.status}")
    expect(main.name == name("main"), f"name {main.name}")
    expect(main.labels.get("k") == "v", f"labels {main.labels}")
    expect(main.attrs["Config"]["Hostname"] == "pyhost", "hostname")
    expect(main.attrs["State"]["Running"] is True, "State.Running")
    expect(main.image.id.startswith("sha256:"), f"image id {main.image.id}")
    expect("busybox:latest" in main.image.tags, f"image tags {main.image.tags}")


@check("containers.get by name, id and short id")
def _():
    for ref in (name("main"), main.id, main.short_id):
        c = client.containers.get(ref)
        expect(c.id == main.id, f"get({ref}) gave {c.id}")


@check("containers.get missing -> NotFound (404)")
def _():
    e = expect_raises(docker.errors.NotFound, lambda: client.containers.get(name("missing")))
    expect(e.status_code == 404, f"status {e.status_code}")


@check("name conflict -> APIError 409")
def _():
    e = expect_raises(docker.errors.APIError,
                      lambda: client.containers.create("busybox", "true", name=name("main")))
    expect(e.status_code == 409, f"status {e.status_code}: {e}")
    expect(e.is_client_error(), "not a client error")
    expect("already in use" in str(e.explanation), f"explanation {e.explanation!r}")


@check("containers.list(all, filters label k=v / key / name / status)")
def _():
    stopped = client.containers.create("busybox", "true", name=name("created"),
                                       labels={"k": "v"})
    ids = {c.id for c in client.containers.list(all=True, filters={"label": "k=v"})}
    expect(ids == {main.id, stopped.id}, f"label k=v gave {ids}")
    ids = {c.id for c in client.containers.list(filters={"label": "k=v"})}
    expect(ids == {main.id}, f"running with label k=v gave {ids}")
    ids = {c.id for c in client.containers.list(all=True, filters={"label": TAG})}
    expect(ids == {main.id}, f"label key-only gave {ids}")
    ids = {c.id for c in client.containers.list(all=True, filters={"label": ["k=v", TAG]})}
    expect(ids == {main.id}, f"two labels gave {ids}")
    ids = {c.id for c in client.containers.list(all=True, filters={"status": "created",
                                                                   "name": TAG})}
    expect(ids == {stopped.id}, f"status=created gave {ids}")
    expect(client.containers.list(all=True, filters={"label": "k=nope"}) == [],
           "label k=nope matched")
    lst = client.containers.list(all=True, filters={"id": main.id})
    expect(len(lst) == 1 and lst[0].name == name("main"), f"id filter gave {lst}")
    expect(lst[0].status == "running", f"list status {lst[0].status}")
    stopped.remove()


# ---------------------------------------------------------------- logs


@check("logs()")
def _():
    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2"],
                              detach=True, name=name("logs"))
    c.wait()
    expect(c.logs() == b"one\ntwo\n" or c.logs() == b"two\none\n", f"logs {c.logs()!r}")
    expect(c.logs(stderr=False) == b"one\n", f"stdout-only logs {c.logs(stderr=False)!r}")
    expect(c.logs(stdout=False) == b"two\n", f"stderr-only logs {c.logs(stdout=False)!r}")
    c.remove()


@check("logs(stream=True, follow=True) ends at exit")
def _():
    c = client.containers.run("busybox",
                              ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"],
                              detach=True, name=name("follow"))
    got = []
    done = threading.Event()

    def reader():
        for chunk in c.logs(stream=True, follow=True):
            got.append(chunk)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    expect(done.wait(30), f"log stream did not end; got {got!r}")
    expect(b"".join(got) == b"line1\nline2\nline3\n", f"streamed {b''.join(got)!r}")
    c.remove()


@check("logs(timestamps=True, tail=1)")
def _():
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b; echo c"],
                              detach=True, name=name("tail"))
    c.wait()
    out = c.logs(timestamps=True, tail=1).decode()
    expect(out.count("\n") == 1, f"tail=1 gave {out!r}")
    ts, _, text = out.partition(" ")
    expect(text == "c\n", f"text {text!r}")
    expect(len(ts) >= 20 and ts[4] == "-" and "T" in ts and ts.endswith("Z"), f"ts {ts!r}")
    expect(c.logs(tail=2) == b"b\nc\n", f"tail=2 gave {c.logs(tail=2)!r}")
    c.remove()


# ---------------------------------------------------------------- exec


@check("exec_run('hostname')")
def _():
    r = main.exec_run("hostname")
    expect(r.exit_code == 0, f"exit_code {r.exit_code}")
    expect(r.output == b"pyhost\n", f"output {r.output!r}")
    r = main.exec_run("sh -c 'echo $FOO; exit 7'")
    expect(r.exit_code == 7, f"exit_code {r.exit_code}")
    expect(r.output == b"bar\n", f"output {r.output!r}")
    r = main.exec_run(["sh", "-c", "echo $X; pwd"], environment={"X": "y"}, workdir="/tmp")
    expect(r.output == b"y\n/tmp\n", f"env/workdir output {r.output!r}")


@check("exec_run(stream=True)")
def _():
    r = main.exec_run(["sh", "-c", "for i in 1 2 3; do echo s$i; sleep 0.1; done"],
                      stream=True)
    expect(r.exit_code is None, "stream exit_code is not None")
    chunks = list(r.output)
    expect(b"".join(chunks) == b"s1\ns2\ns3\n", f"streamed {chunks!r}")


@check("exec_run(demux=True)")
def _():
    r = main.exec_run(["sh", "-c", "echo out; echo err >&2; exit 2"], demux=True)
    expect(r.exit_code == 2, f"exit_code {r.exit_code}")
    expect(r.output == (b"out\n", b"err\n"), f"demux output {r.output!r}")
    r = main.exec_run(["sh", "-c", "echo only"], demux=True)
    expect(r.output == (b"only\n", None), f"stdout-only demux {r.output!r}")


@check("exec_run(tty=True)")
def _():
    r = main.exec_run(["sh", "-c", "tty >/dev/null && echo isatty"], tty=True)
    expect(r.exit_code == 0, f"exit_code {r.exit_code}")
    expect(r.output.replace(b"\r", b"") == b"isatty\n", f"output {r.output!r}")


# ---------------------------------------------------------------- attach


def attach_echo(container_id):
    """attach_socket with stdin; writes a line, returns (socket, the echoed bytes)."""
    s = client.api.attach_socket(container_id, params={"stdin": 1, "stream": 1, "stdout": 1})
    raw = s._sock  # the socket under docker-py's SocketIO, as its own tests use it
    raw.settimeout(30)
    raw.sendall(b"hello berth\n")
    got = b""
    for stream, data in frames_iter(s, tty=False):
        expect(stream == 1, f"frame on stream {stream}")
        got += data
        if b"\n" in got:
            break
    return s, got


@check("attach_socket: stdin of a cat container echoes back")
def _():
    # run(detach=True, stdin_open=True): OpenStdin, not StdinOnce, so cat outlives the attach.
    c = client.containers.run("busybox", "cat", detach=True, stdin_open=True,
                              name=name("cat"))
    s, got = attach_echo(c.id)
    expect(got == b"hello berth\n", f"echo {got!r}")
    s._sock.shutdown(socket.SHUT_WR)
    s.close()
    time.sleep(0.3)
    c.reload()
    expect(c.status == "running", f"cat without StdinOnce stopped: {c.status}")
    # Attach again: the container's stdin is still open.
    s, got = attach_echo(c.id)
    expect(got == b"hello berth\n", f"second echo {got!r}")
    s.close()
    c.remove(force=True)


@check("attach_socket with StdinOnce: stdin EOF ends the container")
def _():
    # The low-level create with detach=False sets AttachStdin and StdinOnce, like `docker run -i`.
    cid = client.api.create_container("busybox", "cat", stdin_open=True, detach=False,
                                      name=name("cat-once"))["Id"]
    s = client.api.attach_socket(cid, params={"stdin": 1, "stream": 1, "stdout": 1})
    client.api.start(cid)
    raw = s._sock
    raw.settimeout(30)
    raw.sendall(b"once\n")
    raw.shutdown(socket.SHUT_WR)
    got = b"".join(data for _stream, data in frames_iter(s, tty=False))
    expect(got == b"once\n", f"echo {got!r}")
    s.close()
    w = client.api.wait(cid, timeout=60)
    expect(w["StatusCode"] == 0, f"wait {w}")
    client.api.remove_container(cid)


# ---------------------------------------------------------------- lifecycle


@check("top()")
def _():
    t = main.top()
    expect("Titles" in t and "Processes" in t, f"top {t}")
    expect("PID" in t["Titles"] and "CMD" in t["Titles"], f"titles {t['Titles']}")
    cmds = [p[t["Titles"].index("CMD")] for p in t["Processes"]]
    expect(any("while true" in c for c in cmds), f"processes {cmds}")
    t = main.top(ps_args="-o pid,comm")
    expect(t["Titles"] == ["PID", "COMMAND"], f"ps_args titles {t['Titles']}")


@check("stats(stream=False)")
def _():
    s = main.stats(stream=False)
    for k in ("read", "preread", "memory_stats", "cpu_stats", "precpu_stats", "pids_stats",
              "name", "id"):
        expect(k in s, f"stats lacks {k}: {sorted(s)}")
    expect(s["memory_stats"].get("usage", 0) > 0, f"memory_stats {s['memory_stats']}")
    expect(s["cpu_stats"]["cpu_usage"]["total_usage"] > 0, f"cpu_stats {s['cpu_stats']}")
    expect("system_cpu_usage" in s["cpu_stats"], "no system_cpu_usage")
    expect(s["id"] == main.id, "stats id")
    gen = main.stats(decode=True)
    a, b = next(gen), next(gen)
    expect(b["precpu_stats"]["cpu_usage"]["total_usage"]
           == a["cpu_stats"]["cpu_usage"]["total_usage"], "precpu of sample 2 != cpu of 1")
    gen.close()


@check("pause()/unpause()")
def _():
    main.pause()
    main.reload()
    expect(main.status == "paused" and main.attrs["State"]["Paused"], f"status {main.status}")
    e = expect_raises(docker.errors.APIError, lambda: main.exec_run("true"))
    expect(e.status_code == 409, f"exec in paused: {e.status_code}")
    main.unpause()
    main.reload()
    expect(main.status == "running", f"status {main.status}")


@check("update(mem_limit='32m')")
def _():
    r = main.update(mem_limit="32m", memswap_limit="64m")
    expect(isinstance(r, dict), f"update returned {r!r}")
    main.reload()
    expect(main.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024,
           f"Memory {main.attrs['HostConfig']['Memory']}")
    r = main.exec_run("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes")
    expect(b"33554432" in r.output, f"cgroup limit not applied: {r.output!r}")


@check("rename()")
def _():
    main.rename(name("renamed"))
    main.reload()
    expect(main.name == name("renamed"), f"name {main.name}")
    expect_raises(docker.errors.NotFound, lambda: client.containers.get(name("main")))
    main.rename(name("main"))
    main.reload()
    expect(main.name == name("main"), f"name {main.name}")


@check("restart()")
def _():
    pid = main.attrs["State"]["Pid"]
    main.restart(timeout=2)
    main.reload()
    expect(main.status == "running", f"status {main.status}")
    expect(main.attrs["State"]["Pid"] != pid, "same pid after restart")


@check("stop(timeout=1) + wait()")
def _():
    c = client.containers.run("busybox", "sleep 60", detach=True, name=name("stop"))
    # `sleep` as pid 1 ignores SIGTERM, so the 137 below shows the timeout's SIGKILL.
    c.stop(timeout=1)
    c.reload()
    expect(c.status == "exited", f"status {c.status}")
    w = c.wait()
    expect(w["StatusCode"] == 137, f"wait {w}")
    expect(c.attrs["State"]["ExitCode"] == 137, f"ExitCode {c.attrs['State']['ExitCode']}")
    c.remove()


@check("wait() blocks until exit, StatusCode")
def _():
    c = client.containers.run("busybox", "sh -c 'sleep 0.5; exit 5'", detach=True,
                              name=name("wait"))
    w = c.wait(timeout=60)
    expect(w["StatusCode"] == 5, f"wait {w}")
    expect(w.get("Error") is None or w["Error"].get("Message", "") == "",
           f"wait error {w}")
    w = c.wait(condition="not-running")
    expect(w["StatusCode"] == 5, f"second wait {w}")
    c.remove()


@check("kill(signal='SIGKILL')")
def _():
    c = long_running("kill")
    c.kill(signal="SIGKILL")
    expect(c.wait(timeout=60)["StatusCode"] == 137, "kill exit code")
    c2 = long_running("kill2")
    c2.kill(signal=15)
    expect(c2.wait(timeout=60)["StatusCode"] == 0, "SIGTERM (number) exit code")
    e = expect_raises(docker.errors.APIError, lambda: c.kill())
    expect(e.status_code == 409, f"kill of stopped: {e.status_code}")
    c.remove()
    c2.remove()


@check("remove(force=True) of a running container")
def _():
    c = long_running("force")
    e = expect_raises(docker.errors.APIError, lambda: c.remove())
    expect(e.status_code == 409, f"remove running: {e.status_code}")
    c.remove(force=True)
    expect_raises(docker.errors.NotFound, lambda: c.reload())


@check("containers.prune()")
def _():
    a = client.containers.create("busybox", "true", name=name("prune-a"))
    b = client.containers.run("busybox", "true", detach=True, name=name("prune-b"))
    b.wait()
    r = client.containers.prune(filters={"label": "nonexistent=label"})
    expect(r.get("ContainersDeleted") in (None, []), f"filtered prune deleted {r}")
    r = client.containers.prune()
    deleted = r.get("ContainersDeleted") or []
    expect(a.id in deleted and b.id in deleted, f"prune result {r}")
    expect(main.id not in deleted, "prune removed a running container")
    expect("SpaceReclaimed" in r, f"prune result {r}")
    expect_raises(docker.errors.NotFound, lambda: a.reload())


# ---------------------------------------------------------------- images


bb = None


@check("images.list()")
def _():
    imgs = client.images.list()
    expect(any("busybox:latest" in i.tags for i in imgs), f"images {imgs}")
    expect(all(i.id.startswith("sha256:") for i in imgs), "image ids")
    expect(client.images.list(name="busybox")[0].tags, "list(name=busybox)")
    expect(client.images.list(name="nosuch" + TAG) == [], "list(name=nosuch)")


@check("images.get('busybox').tags, attrs")
def _():
    global bb
    bb = client.images.get("busybox")
    expect("busybox:latest" in bb.tags, f"tags {bb.tags}")
    expect(bb.attrs["Os"] == "linux" and "Architecture" in bb.attrs, "attrs")
    expect(bb.attrs["RootFS"]["Type"] == "layers", "RootFS")
    expect(client.images.get(bb.id).id == bb.id, "get by id")
    expect(client.images.get(bb.short_id).id == bb.id, "get by short id")
    expect_raises(docker.errors.ImageNotFound, lambda: client.images.get("nosuch" + TAG))


@check("image.history()")
def _():
    h = bb.history()
    expect(isinstance(h, list) and h, f"history {h}")
    for k in ("Id", "Created", "CreatedBy", "Size", "Tags"):
        expect(k in h[0], f"history entry lacks {k}: {h[0]}")


@check("image.tag() + images.remove()")
def _():
    expect(bb.tag("busybox", "copy") is True, "tag did not return True")
    expect(bb.tag(name("repo"), "x") is True, "second tag")
    bb.reload()
    expect("busybox:copy" in bb.tags and f"{name('repo')}:x" in bb.tags, f"tags {bb.tags}")
    client.images.remove("busybox:copy")
    client.images.remove(f"{name('repo')}:x")
    bb.reload()
    expect("busybox:copy" not in bb.tags, f"tags {bb.tags}")
    expect_raises(docker.errors.ImageNotFound, lambda: client.images.remove("busybox:copy"))


@check("image.save() -> images.load() round trip")
def _():
    bb.tag(name("saved"), "1")
    img = client.images.get(f"{name('saved')}:1")
    # named=True would save the image's first tag (busybox:latest); name the one we mean.
    chunks = list(img.save(chunk_size=65536, named=f"{name('saved')}:1"))
    data = b"".join(chunks)
    expect(len(chunks) >= 1 and len(data) > 100_000, f"saved {len(data)} bytes")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        names = t.getnames()
    expect("manifest.json" in names, f"tar names {names[:10]}")
    client.images.remove(f"{name('saved')}:1")
    expect_raises(docker.errors.ImageNotFound,
                  lambda: client.images.get(f"{name('saved')}:1"))
    loaded = client.images.load(data)
    expect(len(loaded) == 1 and loaded[0].id == bb.id, f"loaded {loaded}")
    expect(f"{name('saved')}:1" in loaded[0].tags, f"loaded tags {loaded[0].tags}")
    # client.api.get_image by id, too (docker-py's low-level API).
    raw = b"".join(client.api.get_image(bb.id))
    expect(len(raw) > 100_000, "get_image by id")
    client.images.remove(f"{name('saved')}:1")


def rootfs_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        body = b"imported by docker-py\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        info.mtime = int(time.time())
        t.addfile(info, io.BytesIO(body))
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        t.addfile(d)
    return buf.getvalue()


@check("api.import_image(src=tarbytes, repository, tag)")
def _():
    repo = "imp-" + TAG
    r = client.api.import_image(src=rootfs_tar(), repository=repo, tag="1")
    text = r if isinstance(r, str) else r.decode()
    expect("error" not in text.lower(), f"import answered {text!r}")
    img = client.images.get(f"{repo}:1")
    expect(img.id.startswith("sha256:"), f"imported id {img.id}")
    expect(img.attrs["RootFS"]["Layers"], "imported image has no layers")
    expect(img.id.split(":")[1][:12] in text, f"import result lacks the id: {text!r}")


@check("images.prune()")
def _():
    repo = "imp-" + TAG
    img = client.images.get(f"{repo}:1")
    client.images.remove(f"{repo}:1")  # the image goes with its only tag
    expect_raises(docker.errors.ImageNotFound, lambda: client.images.get(img.id))
    # Import it again untagged, so that it is dangling, then prune dangling images.
    client.api.import_image(src=rootfs_tar())
    r = client.images.prune(filters={"dangling": True})
    expect("ImagesDeleted" in r and "SpaceReclaimed" in r, f"prune result {r}")
    deleted = r["ImagesDeleted"] or []
    expect(any("Deleted" in d for d in deleted), f"nothing pruned: {r}")
    expect(client.images.get("busybox").id == bb.id, "prune removed busybox")


# ---------------------------------------------------------------- networks


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(3)
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out
            out += b


def http_get_quiet(port):
    try:
        return http_get(port)
    except OSError:
        return b""


@check("networks.create(ipam) + list(names) + get().attrs")
def _():
    global net
    subnet = os.environ.get("SMOKE_SUBNET", "10.199.77.0/24")
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    net = client.networks.create(name("net"), driver="bridge", ipam=ipam, labels={"smoke": "1"})
    expect(net.id and len(net.id) == 64, f"id {net.id}")
    names = [n.name for n in client.networks.list(names=[name("net")])]
    expect(names == [name("net")], f"list {names}")
    got = client.networks.get(net.id)
    expect(got.attrs["IPAM"]["Config"][0]["Subnet"] == subnet, f"ipam {got.attrs['IPAM']}")
    expect(got.attrs["Labels"] == {"smoke": "1"}, f"labels {got.attrs['Labels']}")
    expect(any(n.name == "bridge" for n in client.networks.list()), "no default bridge")


@check("containers.run(network=, ports=) reachable, ports in attrs")
def _():
    global web
    port = free_port()
    web = client.containers.run(
        "busybox",
        ["sh", "-c", "mkdir /w && echo dpy-web > /w/index.html && exec httpd -f -p 80 -h /w"],
        detach=True,
        name=name("web"),
        network=name("net"),
        ports={"80/tcp": port},
    )
    body = wait_until("the published port", lambda: b"dpy-web" in http_get_quiet(port))
    expect(body, "no answer")
    web.reload()
    ports = web.attrs["NetworkSettings"]["Ports"]
    expect(ports["80/tcp"][0]["HostPort"] == str(port), f"ports {ports}")
    ip = web.attrs["NetworkSettings"]["Networks"][name("net")]["IPAddress"]
    expect(ip.startswith(os.environ.get("SMOKE_SUBNET", "10.199.77.0/24").rsplit(".", 1)[0]), f"ip {ip}")
    expect(web.ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}, f"web.ports {web.ports}")


@check("network.connect/disconnect + containers by name over DNS")
def _():
    other = client.containers.run("busybox", ["sleep", "60"], detach=True, name=name("peer"))
    net.connect(other, aliases=["peer-alias"])
    net.reload()
    expect(other.id in net.attrs["Containers"], f"containers {list(net.attrs['Containers'])}")
    out = other.exec_run(["sh", "-c", f"nslookup {name('web')} && nslookup peer-alias"])
    expect(out.exit_code == 0, f"nslookup: {out.output!r}")
    net.disconnect(other)
    net.reload()
    expect(other.id not in net.attrs["Containers"], "still connected")
    other.remove(force=True)


@check("network.remove() in use is refused, then networks.prune()")
def _():
    e = expect_raises(docker.errors.APIError, net.remove)
    expect("active endpoints" in str(e), f"error {e}")
    web.remove(force=True)
    pruned = client.networks.prune()
    expect(name("net") in (pruned.get("NetworksDeleted") or []), f"prune {pruned}")
    expect_raises(docker.errors.NotFound, lambda: client.networks.get(name("net")))


# ---------------------------------------------------------------- events, df


@check("events(decode, since, until) has create/start/die")
def _():
    # A run of our own, inside the window.
    c = client.containers.run("busybox", "sh -c 'exit 4'", detach=True, name=name("ev"))
    c.wait()
    t1 = time.time() + 1
    time.sleep(0.1)
    seen = []
    done = threading.Event()

    def reader():
        for ev in client.events(decode=True, since=int(t0), until=int(t1) + 1,
                                filters={"container": c.id}):
            seen.append(ev)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    expect(done.wait(30), f"events stream did not end at until; got {len(seen)}")
    actions = [e.get("Action") or e.get("status") for e in seen]
    for a in ("create", "start", "die"):
        expect(a in actions, f"no {a} in {actions}")
    expect(actions.index("create") < actions.index("start") < actions.index("die"),
           f"order {actions}")
    die = seen[actions.index("die")]
    expect(die["Type"] == "container" and die["Actor"]["ID"] == c.id, f"die {die}")
    expect(die["Actor"]["Attributes"].get("exitCode") == "4", f"die attributes {die}")
    expect(die["Actor"]["Attributes"].get("name") == name("ev"), f"die attributes {die}")
    expect(isinstance(die["time"], int) and "timeNano" in die, f"die times {die}")
    c.remove()


@check("df()")
def _():
    d = client.df()
    for k in ("LayersSize", "Images", "Containers", "Volumes"):
        expect(k in d, f"df lacks {k}: {sorted(d)}")
    ids = [i["Id"] for i in d["Images"]]
    expect(bb.id in ids, f"df images {ids}")
    expect(any(c["Id"] == main.id for c in d["Containers"]), "df lacks the main container")


@check("final remove(force=True) and cleanup")
def _():
    main.remove(force=True)
    expect_raises(docker.errors.NotFound, lambda: client.containers.get(main.id))
    cleanup()
    left = client.containers.list(all=True, filters={"name": TAG})
    expect(left == [], f"containers left: {left}")


if FAILED:
    sys.exit(f"docker-py smoke test: {len(FAILED)} failed: {', '.join(FAILED)}")
print(f"docker-py {docker.__version__}: all checks passed")
