"""Does the requests in SITE leak Proxy-Authorization across a redirect? (CVE-2023-32681)

Usage: python3 proxy_auth_leak.py SITE_PACKAGES

Imports requests from SITE_PACKAGES only, follows a redirect from
http://origin.test/ to https://target.test/ through an authenticated proxy,
and prints JSON: the version and file imported, and whether the redirected
HTTPS request carried a Proxy-Authorization header. For an HTTPS request
through a proxy, headers on the request travel inside the TLS tunnel to the
destination server, so a header there is the leak.

No network: a transport adapter mounted on the session records each request
and answers it, so everything above the socket is the real requests code.
"""
import io
import json
import sys

site = sys.argv[1]
sys.path.insert(0, site)
import requests  # noqa: E402
from requests.adapters import BaseAdapter  # noqa: E402
from requests.models import Response  # noqa: E402
from requests.structures import CaseInsensitiveDict  # noqa: E402

assert requests.__file__.startswith(site), requests.__file__


class Recorder(BaseAdapter):
    def __init__(self):
        super().__init__()
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append((request.url, dict(request.headers)))
        r = Response()
        r.request = request
        r.url = request.url
        r.raw = io.BytesIO(b"")
        r._content = b""
        r.headers = CaseInsensitiveDict()
        if request.url.startswith("http://origin.test"):
            r.status_code = 302
            r.headers["Location"] = "https://target.test/landing"
        else:
            r.status_code = 200
        return r

    def close(self):
        pass


s = requests.Session()
s.trust_env = False
rec = Recorder()
s.mount("http://", rec)
s.mount("https://", rec)
proxy = "http://user:secret@proxy.test:3128"
resp = s.get("http://origin.test/", proxies={"http": proxy, "https": proxy})
assert resp.status_code == 200, resp.status_code
assert [u for u, _ in rec.sent] == ["http://origin.test/", "https://target.test/landing"], rec.sent
redirected = rec.sent[1][1]
print(json.dumps({
    "version": requests.__version__,
    "file": requests.__file__,
    "leaked": "Proxy-Authorization" in redirected,
}))
