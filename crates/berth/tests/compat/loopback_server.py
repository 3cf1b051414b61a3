"""What the tests' own HTTP servers share: serve on 127.0.0.1 on a free port, say
`PORT <n>` on stdout for the test, and stop when the test closes our stdin."""

import sys
import threading
from http.server import ThreadingHTTPServer


def serve_until_stdin_closes(handler):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()
    srv.shutdown()
