#!/usr/bin/env python3
"""An independent OpenID Shared Signals (SSF 1.0) receiver, written against the specifications
with the jwcrypto JOSE library and the Python standard library only: no code shared with Tocsin.

It discovers the transmitter from /.well-known/ssf-configuration, fetches the JWK Set from
jwks_uri, creates a push stream (RFC 8935) served by its own HTTP endpoint, verifies it, then a
poll stream (RFC 8936), verifies that too, and waits for a CAEP session-revoked SET on each.
Every SET's signature is checked against the keys at jwks_uri, and its typ, iss and aud.

Driven by a test through stdin/stdout:
  prints "READY push"  -> the test causes a takeover; prints "GOT push <account> <session> <jti>"
  prints "READY poll"  -> the test causes another;    prints "GOT poll <account> <session> <jti>"
Exit status 0 when everything held; any check that fails raises and exits non-zero.
"""

import argparse
import http.server
import json
import queue
import secrets
import sys
import threading
import urllib.error
import urllib.request

from jwcrypto import jwk, jws

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
PUSH_SECRET = "Bearer receiver-push-secret-" + secrets.token_hex(8)


def call(method, url, token, body=None, expect=(200,)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if status not in expect:
        raise AssertionError(f"{method} {url}: HTTP {status} {raw[:300]!r}, expected {expect}")
    return json.loads(raw) if raw else None


class Verifier:
    """Checks a SET as RFC 8417 and SSF 1.0 say a receiver must."""

    def __init__(self, issuer, jwks_uri, alg):
        self.issuer = issuer
        self.alg = alg
        with urllib.request.urlopen(jwks_uri, timeout=10) as r:
            self.keys = jwk.JWKSet.from_json(r.read())
        self.aud = None

    def check(self, token):
        obj = jws.JWS()
        obj.deserialize(token)
        header = obj.jose_header
        if header.get("typ") != "secevent+jwt":
            raise ValueError("typ is not secevent+jwt")
        if header.get("alg") != self.alg:
            raise ValueError("alg is %r, expected %r" % (header.get("alg"), self.alg))
        key = self.keys.get_key(header.get("kid"))
        if key is None:
            raise ValueError("kid not in jwks_uri")
        obj.verify(key, alg=header["alg"])  # raises on a bad signature
        claims = json.loads(obj.payload)
        if claims.get("iss") != self.issuer:
            raise ValueError("wrong iss")
        aud = claims.get("aud")
        if self.aud not in (aud if isinstance(aud, list) else [aud]):
            raise ValueError("wrong aud")
        for required in ("jti", "iat", "events"):
            if required not in claims:
                raise ValueError("missing " + required)
        if "exp" in claims or "sub" in claims:
            raise ValueError("SSF SETs carry neither exp nor sub")
        return claims


def serve_push(verifier, inbox):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=None):
            raw = json.dumps(body).encode() if body else b""
            self.send_response(status)
            if raw:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Authorization") != PUSH_SECRET:
                return self.answer(401)
            if self.headers.get("Content-Type") != "application/secevent+jwt":
                return self.answer(400, {"err": "invalid_request", "description": "content type"})
            try:
                claims = verifier.check(raw.decode())
            except Exception as e:  # the SET is refused, as RFC 8935 section 2.4 says
                return self.answer(400, {"err": "invalid_key", "description": str(e)})
            inbox.put(claims)
            self.answer(202)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for(inbox, event_type, timeout=30):
    while True:
        claims = inbox.get(timeout=timeout)
        if event_type in claims["events"]:
            return claims


def subject(claims):
    sub = claims["sub_id"]
    assert sub["format"] == "complex", sub
    return sub["user"]["id"], sub["session"]["id"]


def poll_until(meta_stream, token, verifier, event_type, state=None):
    """Polls (long polls, RFC 8936) until a SET of event_type arrives; acknowledges it."""
    url = meta_stream["delivery"]["endpoint_url"]
    for _ in range(20):
        got = call("POST", url, token, {"maxEvents": 10, "returnImmediately": False})
        for jti, token_set in got["sets"].items():
            claims = verifier.check(token_set)
            assert claims["jti"] == jti, "the sets map is keyed by jti"
            body = claims["events"].get(event_type)
            if body is not None and (state is None or body.get("state") == state):
                call("POST", url, token, {"ack": [jti], "returnImmediately": True})
                return claims
    raise AssertionError("no " + event_type + " by poll")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--transmitter", required=True, help="base URL of the transmitter")
    p.add_argument("--token", required=True)
    p.add_argument("--alg", default="ES256", choices=["ES256", "RS256"], help="the only alg accepted")
    a = p.parse_args()

    meta = call("GET", a.transmitter + "/.well-known/ssf-configuration", a.token)
    assert meta["spec_version"] == "1_0", meta
    assert meta["issuer"] == a.transmitter, "issuer equals the URL the metadata came from"
    assert set(meta["delivery_methods_supported"]) >= {PUSH, POLL}, meta
    verifier = Verifier(meta["issuer"], meta["jwks_uri"], a.alg)

    # Push stream, served here.
    inbox = queue.Queue()
    server = serve_push(verifier, inbox)
    endpoint = "http://127.0.0.1:%d/events" % server.server_address[1]
    push = call("POST", meta["configuration_endpoint"], a.token, {
        "delivery": {"method": PUSH, "endpoint_url": endpoint, "authorization_header": PUSH_SECRET},
        "events_requested": [SESSION_REVOKED],
        "description": "python receiver, push",
    }, expect=(201,))
    assert push["iss"] == meta["issuer"] and SESSION_REVOKED in push["events_delivered"], push
    verifier.aud = push["aud"]
    state = secrets.token_urlsafe(12)
    call("POST", meta["verification_endpoint"], a.token,
         {"stream_id": push["stream_id"], "state": state}, expect=(204,))
    v = wait_for(inbox, VERIFICATION)
    assert v["events"][VERIFICATION]["state"] == state, v
    status = call("GET", meta["status_endpoint"] + "?stream_id=" + push["stream_id"], a.token)
    assert status["status"] == "enabled", status
    print("READY push", flush=True)
    revoked = wait_for(inbox, SESSION_REVOKED)
    account, session = subject(revoked)
    print("GOT push %s %s %s" % (account, session, revoked["jti"]), flush=True)

    # Poll stream: no delivery given means poll (SSF 1.0), the transmitter names the endpoint.
    poll = call("POST", meta["configuration_endpoint"], a.token,
                {"events_requested": [SESSION_REVOKED]}, expect=(201,))
    assert poll["delivery"]["method"] == POLL and poll["delivery"]["endpoint_url"], poll
    state = secrets.token_urlsafe(12)
    call("POST", meta["verification_endpoint"], a.token,
         {"stream_id": poll["stream_id"], "state": state}, expect=(204,))
    poll_until(poll, a.token, verifier, VERIFICATION, state)
    print("READY poll", flush=True)
    revoked = poll_until(poll, a.token, verifier, SESSION_REVOKED)
    account, session = subject(revoked)
    left = call("POST", poll["delivery"]["endpoint_url"], a.token, {"returnImmediately": True})
    assert revoked["jti"] not in left["sets"], "an acknowledged SET is not sent again"
    print("GOT poll %s %s %s" % (account, session, revoked["jti"]), flush=True)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
