"""The container's health check: exit 0 when the service answers 200 on the URL, else 1 (and why, on stderr).

    python -m dayshift.service.healthcheck [--url http://127.0.0.1:8000/readyz] [--timeout-s 5]

The Dockerfile's HEALTHCHECK and the Kubernetes probes run it: the slim image has no curl, and this needs
nothing beyond the standard library, so it starts in a tenth of a second.

Left out: authentication (/healthz and /readyz take no key) and TLS client settings (it asks loopback).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def check(url: str, *, timeout_s: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a URL the operator set
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(500).decode('utf-8', 'replace')}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', exc)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/readyz")
    parser.add_argument("--timeout-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    ok, detail = check(args.url, timeout_s=args.timeout_s)
    if not ok:
        print(f"unhealthy: {detail}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
