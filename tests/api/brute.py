"""Brute force against the management API: 1000 wrong access tokens from one client address
are refused with 401 and then limited with 429 (Retry-After, X-RateLimit-*), while the right
key and token still work, from that address and from another.

Environment: SHAREHOOK_API (base URL, http://127.0.0.1:PORT/api/v2), SHAREHOOK_KEY,
SHAREHOOK_TOKEN (an admin's), SHAREHOOK_ATTEMPTS (default 1000). Prints one line per
finding; exits non-zero on the first broken expectation.
"""

import http.client
import json
import os
import sys
import time
import urllib.parse

BASE = os.environ["SHAREHOOK_API"].rstrip("/")
KEY = os.environ["SHAREHOOK_KEY"]
TOKEN = os.environ["SHAREHOOK_TOKEN"]
ATTEMPTS = int(os.environ.get("SHAREHOOK_ATTEMPTS", "1000"))
# The allowance the daemon gives an address, and the time in which it refills.
LIMIT, WINDOW_S = 10, 60

url = urllib.parse.urlsplit(BASE)


def connect(source):
    return http.client.HTTPConnection(
        url.hostname, url.port, timeout=30, source_address=(source, 0)
    )


def get(conn, path, token):
    conn.request(
        "GET",
        url.path + path,
        headers={"ev-api-key": KEY, "ev-access-token": token},
    )
    r = conn.getresponse()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


attacker = connect("127.0.0.1")
statuses = {}
first_429 = None
started = time.monotonic()
for n in range(ATTEMPTS):
    status, headers, body = get(attacker, "/account", "%064x" % n)
    statuses[status] = statuses.get(status, 0) + 1
    if status not in (401, 429):
        fail(f"wrong token {n} got {status}: {body[:200]!r}")
    code = json.loads(body)["errors"][0]["code"]
    if status == 401:
        if code != "ERROR_INVALID_CREDENTIALS":
            fail(f"a 401 says {code}")
        if headers.get("x-ratelimit-limit") != str(LIMIT):
            fail(f"a 401 has X-RateLimit-Limit {headers.get('x-ratelimit-limit')}")
        if n < LIMIT and headers.get("x-ratelimit-remaining") != str(LIMIT - 1 - n):
            fail(f"401 number {n + 1} has X-RateLimit-Remaining {headers.get('x-ratelimit-remaining')}")
    else:
        first_429 = n if first_429 is None else first_429
        for name in ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining"):
            if name not in headers:
                fail(f"a 429 has no {name} header: {headers}")
        if headers["x-ratelimit-remaining"] != "0":
            fail(f"a 429 has X-RateLimit-Remaining {headers['x-ratelimit-remaining']}")
        if not 1 <= int(headers["retry-after"]) <= WINDOW_S // LIMIT + 1:
            fail(f"a 429 has Retry-After {headers['retry-after']}")
        if code != "ERROR_RATE_LIMIT":
            fail(f"a 429 says {code}")
elapsed = time.monotonic() - started
print(f"{ATTEMPTS} wrong tokens in {elapsed:.1f} s: {statuses}")
if first_429 != LIMIT:
    fail(f"the first 429 came after {first_429} failures, not {LIMIT}")
# The bucket refills by one every WINDOW_S / LIMIT seconds: that many more may get through.
allowed = LIMIT + int(elapsed / (WINDOW_S / LIMIT)) + 1
if statuses.get(401, 0) > allowed:
    fail(f"{statuses[401]} wrong tokens were checked in {elapsed:.1f} s; at most {allowed} may be")

# The right token from the same address is let in: a guesser there (127.0.0.1 is every
# SSH-tunnelled admin's address) does not lock out the real admin. The guesser still waits.
status, _, body = get(attacker, "/account", TOKEN)
if status != 200:
    fail(f"the right token from the limited address got {status}: {body[:200]!r}")
status, _, _ = get(attacker, "/account", "f" * 64)
if status != 429:
    fail(f"a wrong token after the right one got {status}, not 429")
print("the limited address: the right token 200, a wrong one still 429")

# Another address is not affected.
other = connect("127.0.0.2")
status, _, body = get(other, "/account", TOKEN)
if status != 200:
    fail(f"the right token from 127.0.0.2 got {status}: {body[:200]!r}")
status, headers, _ = get(other, "/account", "0" * 64)
if status != 401 or headers.get("x-ratelimit-remaining") != str(LIMIT - 1):
    fail(f"a wrong token from 127.0.0.2 got {status} with {headers.get('x-ratelimit-remaining')} left")
print("another address: the right token 200, a wrong one 401 with its own allowance")
print("OK")
