"""A registry token server, as Docker Hub's and GHCR's work (the Docker
Registry v2 token authentication spec, `docs/spec/auth/token.md` in
distribution): GET /token?service=..&scope=repository:NAME:ACTIONS with HTTP
Basic credentials returns {"token", "access_token"}, an RS256 JWT whose x5c
header carries the signing certificate, which the registry trusts through
its `rootcertbundle`.

Usage: token_server.py PORT KEY.pem CERT.pem USER PASSWORD ISSUER LOG
Every request is appended to LOG as one JSON line (path, scopes, whether the
credentials were right), so a test can see the client asked for tokens.
"""

import base64
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, key_path, cert_path, user, password, issuer, log = sys.argv[1:8]
key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict) -> str:
    header = {"alg": "RS256", "typ": "JWT", "x5c": [x5c]}
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64(sig)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        scopes = q.get("scope", [])
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        authed = self.headers.get("Authorization") == want
        with open(log, "a") as f:
            f.write(json.dumps({"path": url.path, "scopes": scopes, "authed": authed}) + "\n")
        if url.path != "/token" or not authed:
            self.send_response(401)
            self.end_headers()
            return
        access = []
        for s in scopes:
            kind, _, rest = s.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        token = jwt({
            "iss": issuer,
            "sub": user,
            "aud": q.get("service", [""])[0],
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        })
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
