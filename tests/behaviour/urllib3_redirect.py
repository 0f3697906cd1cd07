"""Two local HTTP servers: the first redirects to the second, which records
what it received. Used by the urllib3 probes (CVE-2023-43804, -45803)."""
import http.server
import json
import threading


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def _record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.seen.append(
            {"method": self.command, "cookie": self.headers.get("Cookie"), "body": body.decode()}
        )
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _record

    def log_message(self, *a):
        pass


def serve(handler):
    s = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def redirector(status, target):
    class R(http.server.BaseHTTPRequestHandler):
        def _go(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            self.send_response(status)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _go

        def log_message(self, *a):
            pass

    return R


def setup(status):
    """Start the recorder and a redirector to it on another port (another origin)."""
    rec = serve(Recorder)
    target = "http://127.0.0.1:%d/landing" % rec.server_port
    red = serve(redirector(status, target))
    return "http://127.0.0.1:%d/start" % red.server_port, Recorder.seen


def report(version, vulnerable, smoke):
    print(json.dumps({"version": version, "vulnerable": vulnerable, "smoke": smoke}))
