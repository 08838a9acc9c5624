"""A real SMTP server on loopback that keeps every message it receives.

``hlidka demo`` shows email alerts without a mail account, and tests check
the message exactly as apprise put it on the wire — subject decoded, plain
and HTML parts decoded — instead of trusting a mock of the SMTP plugin.

The port is reserved when the sink is created, but nothing listens until
:meth:`MailSink.start`: a created-but-stopped sink refuses connections on a
known port, which is exactly "the mail server is down" for fault tests, and
``start()`` afterwards brings it up on the same port.

Two more faults a real mail server shows: :meth:`MailSink.refuse` answers the
next messages with a temporary error (451) instead of accepting them, and
:meth:`MailSink.hold` keeps a received message's final "250" back until the
test lets it go — the window in which the sender has handed the message over
but does not yet know it was accepted, where a crash tests at-most-one-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMessage:
    envelope_from: str
    #: One per RCPT TO; apprise sends a separate message to each recipient.
    envelope_to: tuple[str, ...]
    subject: str
    #: ``From:`` and ``To:`` headers, decoded.
    sender: str
    to: str
    #: Decoded ``text/plain`` and ``text/html`` bodies, None when the message has no such part.
    text: str | None
    html: str | None
    message: EmailMessage
    #: ``time.time()`` when the DATA was complete (for latency measurements).
    received_at: float = field(default_factory=time.time)


def _body(message: EmailMessage, subtype: str) -> str | None:
    """The decoded part, with the wire's CRLF turned back into the newlines the sender wrote."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content: str = part.get_content()
    return content.replace("\r\n", "\n")


def parse_message(envelope_from: str, envelope_to: list[str], data: bytes) -> ReceivedMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return ReceivedMessage(
        envelope_from=envelope_from,
        envelope_to=tuple(envelope_to),
        subject=str(message.get("Subject", "")),
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        message=message,
    )


def _reserve(host: str, port: int) -> socket.socket:
    """Bind without listening: the port is ours, and a client is refused at once."""
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.bind((host, port))
    return reservation


class MailSink:
    """Collects mail sent to ``host:port``; thread-safe, usable as a context manager (started on enter)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._reservation: socket.socket | None = _reserve(host, port)
        self.port: int = self._reservation.getsockname()[1]
        self._controller: Controller | None = None
        self._messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self._refusals: list[str] = []
        self._hold_after: int | None = None
        self._release = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> MailSink:
        if self._controller is not None:
            return self
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
        # aiosmtpd logs every SMTP command at INFO: a sink's conversation is not news.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        # A fixed server_hostname: aiosmtpd's default looks up the FQDN, which hangs where DNS is broken.
        controller = Controller(_Collector(self), hostname=self.host, port=self.port,
                                server_hostname="mailsink.localhost")
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Go down but keep the port, so the same URL works again after :meth:`start`."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None
        self._reservation = _reserve(self.host, self.port)

    def close(self) -> None:
        self.stop()
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ messages

    def _store(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A copy, so a caller iterating it is not disturbed by mail still arriving."""
        with self._arrived:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; TimeoutError says how many did."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self._messages)}")
            return list(self._messages)

    # ------------------------------------------------------------------ faults

    def refuse(self, count: int, reply: str = "451 4.3.0 Temporary failure, try again later") -> None:
        """Answer the next ``count`` messages with ``reply`` instead of accepting them (they are not kept)."""
        with self._arrived:
            self._refusals.extend([reply] * count)

    def hold(self, after: int = 0) -> threading.Event:
        """Keep and count every message, but hold back the "250" of each one after the first ``after``.

        The sender then waits for the reply; set the returned event to answer it
        (and every later message) at once.
        """
        with self._arrived:
            self._hold_after = after
            self._release.clear()
            return self._release

    def _reply_for(self) -> str | None:
        with self._arrived:
            return self._refusals.pop(0) if self._refusals else None

    def _must_wait(self) -> bool:
        with self._arrived:
            return self._hold_after is not None and len(self._messages) > self._hold_after

    def mailto_url(self, to: str = "analytik@example.org", sender: str = "hlidka@example.org",
                   name: str = "Hlidka") -> str:
        """An apprise URL that delivers here: plain SMTP, no TLS, no login."""
        query = urlencode({"smtp": self.host, "port": self.port, "from": sender, "to": to, "name": name}, safe="@")
        return f"mailto://localhost?{query}"


class _Collector:
    """The aiosmtpd handler: accept every message and hand it to the sink parsed."""

    def __init__(self, sink: MailSink):
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._sink._reply_for()
        if refusal is not None:
            return refusal
        data: Any = envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self._sink._store(parse_message(envelope.mail_from or "", list(envelope.rcpt_tos), data))
        if self._sink._must_wait():
            while not self._sink._release.is_set():
                await asyncio.sleep(0.02)
        return "250 Message accepted for delivery"
