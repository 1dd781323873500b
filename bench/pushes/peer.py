"""The local APNs peer of the tests (tests/apns_peer.py) as a process of its own, for `bench/pushes/run`.

In the tests the peer runs in a thread of the test process; here that would put its HTTP/2 and TLS work
under the same GIL as whatever measures it. So the harness starts

    .venv/bin/python -m bench.pushes.peer <development certificates directory> [requests per connection]

which prints the peer's URL as its first line, then answers one command per line on stdin:

    count           -> the number of requests recorded so far
    dump <path>     -> writes every recorded request as one JSON line to <path> (token, status, reason,
                       received_at: time.monotonic(), which on Linux is the machine-wide CLOCK_MONOTONIC,
                       so it compares with the harness's own clock), then `ok`
    reset           -> forgets the records, then `ok`

and stops the peer at the end of stdin. Its answers are the peer's defaults: 200 to every valid push.

hypercorn closes an HTTP/2 connection (GOAWAY) after `keep_alive_max_requests` requests, 1,000 by default;
APNs documents no such cap and keeps a provider's connection open for long. So the peer here serves any
number of requests on one connection, unless a cap is given (0: none).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypercorn.config import Config
from tests.apns_peer import ApnsPeer, dev_apns_peer

from loyalty.wallet.dev_certs import paths_in


def _dump(peer: ApnsPeer, path: Path) -> None:
    with path.open("w") as out:
        for request in peer.requests:
            record = {
                "token": request.token,
                "status": request.status,
                "reason": request.reason,
                "received_at": request.received_at,
            }
            out.write(json.dumps(record) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m bench.pushes.peer <certificates directory> [requests per connection]", file=sys.stderr)
        return 2
    cap = int(argv[1]) if len(argv) == 2 else 0
    Config.keep_alive_max_requests = cap if cap > 0 else sys.maxsize  # read by the peer's Config subclass
    with dev_apns_peer(paths_in(Path(argv[0]))) as peer:
        print(peer.url, flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "count":
                print(len(peer.requests), flush=True)
            elif command == "dump":
                _dump(peer, Path(argument))
                print("ok", flush=True)
            elif command == "reset":
                peer.reset()
                print("ok", flush=True)
            else:
                print(f"error: unknown command {command!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
