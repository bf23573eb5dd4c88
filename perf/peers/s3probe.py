#!/usr/bin/env python3
"""Readiness probe for perf/compare.sh (standard library only): waits until an S3 endpoint
creates the bucket (200, or 409 and then HEAD bucket 200) and takes a small PUT, then deletes
the probe object. Requests are SigV4-signed (UNSIGNED-PAYLOAD) when keys are given.

    python3 perf/peers/s3probe.py --endpoint http://127.0.0.1:PORT --bucket B --timeout 30 \
        [--access-key AK --secret-key SK --region us-east-1] [--pid PID]

Exit 0 when ready; 1 (with the last answer on stderr) when --timeout seconds pass or --pid
exits first. Every request has a 10 s socket timeout, so the whole probe is bounded.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import time
import urllib.parse


def sign(method, host, path, region, access_key, secret_key, headers):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    headers["host"] = host
    names = sorted(k.lower() for k in headers)
    canonical_headers = "".join(f"{k}:{str(headers[k]).strip()}\n" for k in names)
    signed = ";".join(names)
    canonical = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"), "", canonical_headers, signed,
                           "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")


def request(args, method, path, body=b""):
    url = urllib.parse.urlsplit(args.endpoint)
    headers = {"content-length": str(len(body))} if method in ("PUT", "POST") else {}
    if args.access_key:
        sign(method, url.netloc, path, args.region, args.access_key, args.secret_key, headers)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    try:
        conn.request(method, path, body=body if body or method == "PUT" else None, headers=headers)
        resp = conn.getresponse()
        text = resp.read(4096).decode("utf-8", "replace") if method != "HEAD" else ""
        return resp.status, text
    finally:
        conn.close()


def alive(pid):
    if not pid:
        return True
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    step = "create bucket"
    while time.monotonic() < deadline:
        if not alive(args.pid):
            print(f"server process {args.pid} exited ({step}: {last})", file=sys.stderr)
            return 1
        try:
            if step == "create bucket":
                status, text = request(args, "PUT", f"/{args.bucket}")
                last = f"PUT /{args.bucket}: HTTP {status} {text[:300]}"
                if status == 200 or (status == 409 and request(args, "HEAD", f"/{args.bucket}")[0] == 200):
                    step = "put probe"
                    continue
            else:
                key = f"/{args.bucket}/compare-ready-probe"
                status, text = request(args, "PUT", key, b"ready")
                last = f"PUT {key}: HTTP {status} {text[:300]}"
                if status == 200:
                    request(args, "DELETE", key)
                    return 0
        except OSError as e:
            last = f"{step}: {e}"
        time.sleep(0.5)
    print(f"not ready after {args.timeout:.0f} s ({step}; last: {last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
