"""A local SMTP server for the mail tests (PAGES.md, "Mail"): aiosmtpd's Controller on a free port of
127.0.0.1, keeping every message it accepts, parsed with the standard library.

    with smtp_peer() as peer:
        settings.smtp_url = peer.url           # smtp://127.0.0.1:<port>
        ... the worker sends ...
        [message] = peer.wait_for_messages(1)
        assert message["To"] == "…" and peer.envelopes[0].rcpt_tos == ["…"]
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd logs each SMTP command at INFO under "mail.log", the recipients' addresses included: that is the
# peer's log, not the service's, and the suite's log scanner (tests/fixtures.py) would take it for ours.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Envelope:
    """What the client said around the message: MAIL FROM and RCPT TO."""

    mail_from: str
    rcpt_tos: list[str]


class SmtpPeer:
    def __init__(self, port: int) -> None:
        self.url = f"smtp://127.0.0.1:{port}"
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's handler hook
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._messages.append(parsed)
            self._envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self._envelopes)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._envelopes.clear()

    def wait_for_messages(self, count: int, within: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        found = self.messages
        assert len(found) >= count, f"{len(found)} of {count} messages arrived"
        return found


@contextmanager
def smtp_peer() -> Iterator[SmtpPeer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peer = SmtpPeer(port)
    controller = Controller(peer, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()
