#!/usr/bin/env python3
"""A stand-in for ward's admin API on 127.0.0.1, for tests/action.sh.

    stub-ward.py PORT TOKEN REQUESTS.jsonl

Answers the three entry calls as ward does (src/web/admin.rs, src/web/edit.rs: status
codes, field names, one entry per key, 404 "zones/Z/api.zone has no entry for `K`",
401 without the bearer token) and appends every request it gets to REQUESTS.jsonl:
method, path, query, the Authorization and Content-Type headers, the body. Entries
whose expires= has passed are neither listed nor removable, as in ward.

One test hook, to reach the action's answer to a listing that expires between its GET
and its DELETE: an entry whose key starts with `race-` is listed, but DELETE answers
404 "has no entry" for it, as ward does for an entry that has just expired.
"""

import datetime
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, TOKEN, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ENTRIES = {}  # (zone, lowercased key) -> entry
LOCK = threading.Lock()


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def expired(entry):
    expires = entry.get("expires")
    if not expires:
        return False
    return datetime.datetime.fromisoformat(expires.replace("Z", "+00:00")) <= now()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with LOCK, open(LOG, "a") as log:
            log.write(json.dumps({
                "method": self.command,
                "path": url.path,
                "query": urllib.parse.parse_qs(url.query),
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }) + "\n")
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.answer(401, {"error": "this API needs `Authorization: Bearer <token>`"})
        if url.path != "/api/v1/entries":
            return self.answer(404, {"error": "no such endpoint"})
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        with LOCK:
            if self.command == "GET":
                zone = query.get("zone")
                entries = [e for (z, _), e in sorted(ENTRIES.items())
                           if (zone is None or z == zone) and not expired(e)]
                return self.answer(200, {"entries": entries})
            if self.command == "POST":
                try:
                    new = json.loads(body)
                except ValueError as error:
                    return self.answer(400, {"error": f"expected JSON: {error}"})
                unknown = set(new) - {"zone", "key", "reason", "expires", "ticket", "by"}
                if unknown or not all(new.get(f) for f in ("zone", "key", "reason")):
                    return self.answer(400, {"error": f"bad fields: {sorted(new)}"})
                if new.get("expires") and expired(new):
                    return self.answer(400, {"error": "expires= is in the past: the listing would never answer"})
                slot = (new["zone"], new["key"].lower())
                replaced = slot in ENTRIES and not expired(ENTRIES[slot])
                entry = {
                    "zone": new["zone"], "key": new["key"], "reason": new["reason"],
                    "added": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "by": new.get("by") or "api", "ticket": new.get("ticket"),
                    "expires": new.get("expires"),
                }
                ENTRIES[slot] = entry
                return self.answer(200 if replaced else 201, {
                    "entry": entry, "replaced": replaced,
                    "file": f"zones/{new['zone']}/api.zone"})
            if self.command == "DELETE":
                zone, key = query.get("zone"), query.get("key")
                if not zone or not key:
                    return self.answer(400, {"error": "give ?zone=…&key=…"})
                entry = ENTRIES.get((zone, key.lower()))
                if entry is None or expired(entry) or key.startswith("race-"):
                    return self.answer(404, {"error": f"zones/{zone}/api.zone has no entry for `{key}`"})
                del ENTRIES[(zone, key.lower())]
                return self.answer(200, {"removed": [entry]})
        return self.answer(405, {"error": "method not allowed"})

    do_GET = do_POST = do_DELETE = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
