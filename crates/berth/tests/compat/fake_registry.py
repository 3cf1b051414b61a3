#!/usr/bin/env python3
"""A registry of our own for the pull tests: Docker's token (Bearer) auth and hostile
behaviours that a real registry never shows. Serves 127.0.0.1 only.

Content: one OCI image layout (`--layout DIR`, as `skopeo copy ... oci:DIR:TAG` writes it)
served under every repository name, plus generated hostile images. Behaviour by the
repository's first path component:

  public/...        anonymous token
  private/...       token only with Basic credentials alice:s3cret
  bad-digest/...    layer blobs with one byte changed (same length)
  truncated/...     layer blobs cut in half (the connection closes early)
  endless/...       layer blobs that never end
  err500/...        500 on every blob
  huge-manifest/... a 5 MiB manifest
  traversal/...     a generated image whose layer writes ../../escape-<marker>
  schema1/...       a schema 1 manifest
  multiarch/...     an index with arm64 and s390x manifests only
  slow/...          the first request for each layer blob sends half of it, then stalls
                    for 30 s; later requests are served at once
  redirect/...      layer blobs answer 307 to http://localhost:<port>/cdn/<digest> (another
                    host, as a CDN), which refuses any request that carries Authorization

Pushes are taken by `chunked/...` repositories only: `POST .../blobs/uploads/` answers with
`OCI-Chunk-Min-Length: 1048576`, and every `PATCH` must carry a `Content-Range` that
continues the upload and, but for the last, at least that many bytes (416 otherwise); a
monolithic `PUT` with a body is refused (a registry that only takes chunks). Blobs and
manifests pushed are served back like the layout's.

Also `GET /v1/search?q=&n=` (Docker Hub's search API) over a fixed catalogue; with Basic
credentials alice:s3cret it includes alice's private repository.

Prints `PORT <n>` when it listens. Every response is bounded; the server stops when its
stdin closes (the test's handle on it).
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from http.server import BaseHTTPRequestHandler

from loopback_server import serve_until_stdin_closes

TOKEN_PUBLIC = "tok-public"
TOKEN_PRIVATE = "tok-private"
CREDS = "alice:s3cret"
CHUNK_MIN = 1 << 20


CATALOGUE = [
    {"name": "busybox", "description": "Busybox base image.", "star_count": 3300,
     "is_official": True, "is_automated": False},
    {"name": "someone/busybox-tools", "star_count": 12, "is_official": False, "is_automated": True,
     "description": "Tools on busybox: a description long enough to be cut\nacross two lines"},
    {"name": "other/busybox", "description": "", "star_count": 0, "is_official": False,
     "is_automated": False},
]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Store:
    def __init__(self, layout, marker):
        self.blobs = {}
        self.tags = {}
        blobdir = os.path.join(layout, "blobs", "sha256")
        for name in os.listdir(blobdir):
            with open(os.path.join(blobdir, name), "rb") as f:
                self.blobs["sha256:" + name] = f.read()
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            tag = m.get("annotations", {}).get("org.opencontainers.image.ref.name", "latest")
            self.tags[tag] = m["digest"]
        self.traversal = self.make_traversal(marker)

    def add(self, b):
        d = sha(b)
        self.blobs[d] = b
        return d

    def make_traversal(self, marker):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            data = b"escaped\n"
            for name in ("../../escape-" + marker, "/escape-abs-" + marker):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        plain = raw.getvalue()
        layer = gzip.compress(plain)
        ld = self.add(layer)
        cfg = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(plain)]},
        }).encode()
        cd = self.add(cfg)
        man = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": len(layer)}],
        }).encode()
        return self.add(man)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", required=True)
    ap.add_argument("--marker", default="x")
    args = ap.parse_args()
    store = Store(args.layout, args.marker)
    stalled = set()
    uploads = {}
    chunk_sizes = {}
    layer_digests = set()
    for d, b in list(store.blobs.items()):
        try:
            m = json.loads(b)
        except Exception:
            continue
        for l in m.get("layers", []) if isinstance(m, dict) else []:
            layer_digests.add(l["digest"])

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, body=b"", ctype="application/json", headers=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def err(self, code, errcode, msg):
            self.send(code, json.dumps({"errors": [{"code": errcode, "message": msg}]}).encode())

        def challenge(self):
            host = self.headers.get("Host")
            self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                      headers=[("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="fake-registry"')])

        def do_HEAD(self):
            self.do_GET()

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(n) if n else b""

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            if not path.startswith("/v2/chunked/") or not path.endswith("/blobs/uploads/"):
                return self.err(405, "UNSUPPORTED", "pushes go to chunked/ repositories")
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                return self.challenge()
            self.body()
            uid = hashlib.sha256(os.urandom(8)).hexdigest()[:16]
            uploads[uid] = bytearray()
            self.send(202, b"", headers=[("Location", f"{path}{uid}"), ("Range", "0-0"),
                                         ("OCI-Chunk-Min-Length", str(CHUNK_MIN)),
                                         ("Docker-Upload-UUID", uid)])

        def do_PATCH(self):
            path = self.path.split("?", 1)[0]
            uid = path.rsplit("/", 1)[-1]
            data = self.body()
            if uid not in uploads:
                return self.err(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
            have = uploads[uid]
            rng = self.headers.get("Content-Range", "")
            try:
                start, end = (int(x) for x in rng.split("-"))
            except ValueError:
                return self.send(416, b"Content-Range required")
            if start != len(have) or end != start + len(data) - 1:
                return self.send(416, b"range does not continue the upload")
            if len(data) < CHUNK_MIN and chunk_sizes.get(uid) == "short":
                return self.send(416, b"only the last chunk may be short")
            if len(data) < CHUNK_MIN:
                chunk_sizes[uid] = "short"
            have.extend(data)
            self.send(202, b"", headers=[("Location", path), ("Range", f"0-{len(have) - 1}")])

        def do_PUT(self):
            path, _, query = self.path.partition("?")
            data = self.body()
            if "/manifests/" in path:
                d = store.add(data)
                repo, ref = path[4:].split("/manifests/", 1)
                store.tags[ref] = d
                return self.send(201, b"", headers=[("Docker-Content-Digest", d)])
            uid = path.rsplit("/", 1)[-1]
            if uid not in uploads:
                return self.err(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
            if data:
                return self.err(400, "UNSUPPORTED", "monolithic uploads are not taken here")
            q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            blob = bytes(uploads.pop(uid))
            want = q.get("digest", "").replace("%3A", ":")
            if sha(blob) != want:
                return self.err(400, "DIGEST_INVALID", "digest did not match")
            store.add(blob)
            self.send(201, b"", headers=[("Docker-Content-Digest", want)])

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/token":
                q = dict(p.split("=", 1) for p in self.path.split("?", 1)[1].split("&") if "=" in p)
                scope = q.get("scope", "")
                auth = self.headers.get("Authorization", "")
                basic = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == CREDS
                if "private/" in scope.replace("%2F", "/"):
                    if not basic:
                        return self.send(401, b'{"details":"incorrect username or password"}')
                    return self.send(200, json.dumps({"token": TOKEN_PRIVATE, "expires_in": 300}).encode())
                return self.send(200, json.dumps({"access_token": TOKEN_PUBLIC, "expires_in": 300}).encode())
            if path == "/v1/search":
                return self.search()
            if path.startswith("/cdn/"):
                if self.headers.get("Authorization"):
                    return self.send(400, b"authorization leaked to another host")
                d = path[len("/cdn/"):]
                if d not in store.blobs:
                    return self.send(404, b"")
                return self.send(200, store.blobs[d], "application/octet-stream")
            token = self.headers.get("Authorization", "")
            if path == "/v2/":
                if not token.startswith("Bearer "):
                    return self.challenge()
                return self.send(200, b"{}")
            if not path.startswith("/v2/"):
                return self.send(404, b"")
            rest = path[4:]
            if "/manifests/" in rest:
                repo, ref = rest.split("/manifests/", 1)
                kind = "manifest"
            elif "/blobs/" in rest:
                repo, ref = rest.split("/blobs/", 1)
                kind = "blob"
            else:
                return self.send(404, b"")
            first = repo.split("/", 1)[0]
            want = TOKEN_PRIVATE if first == "private" else TOKEN_PUBLIC
            if token not in (f"Bearer {TOKEN_PUBLIC}", f"Bearer {TOKEN_PRIVATE}") or \
                    (first == "private" and token != f"Bearer {want}"):
                return self.challenge()
            if kind == "manifest":
                return self.manifest(first, ref)
            return self.blob(first, ref)

        def manifest(self, first, ref):
            if first == "huge-manifest":
                body = b'{"schemaVersion":2,"padding":"' + b"x" * (5 << 20) + b'"}'
                return self.send(200, body, "application/vnd.oci.image.manifest.v1+json")
            if first == "schema1":
                body = json.dumps({"schemaVersion": 1, "name": "x", "tag": ref, "fsLayers": []}).encode()
                return self.send(200, body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
            if first == "multiarch" and not ref.startswith("sha256:"):
                man = store.blobs[store.tags.get("v1", next(iter(store.tags.values())))]
                entries = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man),
                            "size": len(man), "platform": {"architecture": a, "os": "linux"}} for a in ("arm64", "s390x")]
                body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                   "manifests": entries}).encode()
                return self.send(200, body, "application/vnd.oci.image.index.v1+json")
            if first == "traversal":
                d = store.traversal
            elif ref.startswith("sha256:"):
                d = ref
            else:
                d = store.tags.get(ref)
            if d is None or d not in store.blobs:
                return self.err(404, "MANIFEST_UNKNOWN", "manifest unknown")
            body = store.blobs[d]
            mt = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            self.send(200, body, mt, headers=[("Docker-Content-Digest", d)])

        def search(self):
            q = dict(p.split("=", 1) for p in self.path.split("?", 1)[-1].split("&") if "=" in p)
            term = q.get("q", "")
            n = int(q.get("n", "25"))
            auth = self.headers.get("Authorization", "")
            basic = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == CREDS
            found = [r for r in CATALOGUE if term in r["name"]]
            if basic:
                found.append({"name": "alice/private-" + term, "description": "only for alice",
                              "star_count": 1, "is_official": False, "is_automated": False})
            body = json.dumps({"num_results": len(found), "query": term, "results": found[:n]})
            self.send(200, body.encode())

        def blob(self, first, d):
            if d not in store.blobs:
                return self.err(404, "BLOB_UNKNOWN", "blob unknown to registry")
            if first == "redirect" and d in layer_digests:
                port = self.server.server_address[1]
                return self.send(307, b"", headers=[("Location", f"http://localhost:{port}/cdn/{d}")])
            body = store.blobs[d]
            is_layer = d in layer_digests
            if first == "err500" and is_layer:
                return self.send(500, b"internal error")
            if first == "bad-digest" and is_layer:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            if first == "truncated" and is_layer:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if first == "slow" and is_layer and d not in stalled:
                stalled.add(d)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(30)
                self.close_connection = True
                return
            if first == "endless" and is_layer:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.close_connection = True
                chunk = b"\0" * 65536
                deadline = time.time() + 60
                try:
                    while time.time() < deadline:
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            self.send(200, body, "application/octet-stream")

    serve_until_stdin_closes(H)


if __name__ == "__main__":
    main()
