#!/usr/bin/env python3
"""A token server of the tests' own for Debian's docker-registry (distribution 2.8) in its
`auth: token` mode: Docker's token authentication, as Docker Hub's auth.docker.io serves it.

GET /token?service=&scope=repository:<name>:<actions>[&scope=...][&account=] answers
{"token", "access_token", "expires_in", "issued_at"} with a JWT signed RS256 (by
`openssl dgst`, the stdlib has no RSA) whose header carries the signing certificate
(`x5c`), which the registry trusts through its `rootcertbundle`. A login (no scope, with
`offline_token=true`) also gets a refresh token, which a later form POST trades for tokens.

Users: alice:s3cret. Repositories under `private/` are for alice only (pull, push); any
other repository may be pulled by anyone and pushed by alice. Wrong credentials: 401.

Prints `PORT <n>` when it listens on 127.0.0.1; stops when its stdin closes.
"""

import argparse
import base64
import json
import os
import subprocess
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from loopback_server import serve_until_stdin_closes

USERS = {"alice": "s3cret"}
REFRESH = {}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    args = ap.parse_args()
    pem = open(args.cert).read()
    der_b64 = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))

    def sign(account, access):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [der_b64]}
        now = int(time.time())
        claims = {"iss": args.issuer, "sub": account, "aud": args.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": b64url(os.urandom(12)), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=signing_input,
                             capture_output=True, check=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def grant(account, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, wanted = ":".join(parts[1:-1]), parts[-1].split(",")
            if name.startswith("private/"):
                allowed = {"pull", "push"} if account == "alice" else set()
            else:
                allowed = {"pull", "push"} if account == "alice" else {"pull"}
            actions = [a for a in wanted if a in allowed]
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
        return access

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def answer(self, account, scopes, offline):
            out = {"token": sign(account, grant(account, scopes)), "expires_in": 300,
                   "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            out["access_token"] = out["token"]
            if offline and account:
                r = b64url(os.urandom(16))
                REFRESH[r] = account
                out["refresh_token"] = r
            self.send(200, out)

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path != "/token":
                return self.send(404, {"details": "not found"})
            q = urllib.parse.parse_qs(url.query)
            account = ""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                if USERS.get(user) != pw:
                    return self.send(401, {"details": "incorrect username or password"})
                account = user
            self.answer(account, q.get("scope", []), q.get("offline_token") == ["true"])

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(n).decode())
            if form.get("grant_type") == ["refresh_token"]:
                account = REFRESH.get(form.get("refresh_token", [""])[0])
                if not account:
                    return self.send(401, {"details": "invalid refresh token"})
            elif form.get("grant_type") == ["password"]:
                user = form.get("username", [""])[0]
                if USERS.get(user) != form.get("password", [""])[0]:
                    return self.send(401, {"details": "incorrect username or password"})
                account = user
            else:
                return self.send(400, {"details": "unsupported grant type"})
            scopes = " ".join(form.get("scope", [])).split()
            self.answer(account, scopes, form.get("access_type") == ["offline"])

    serve_until_stdin_closes(H)


if __name__ == "__main__":
    main()
