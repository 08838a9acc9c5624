"""Deliver a rendered alert to one configured channel through apprise.

Channel URLs carry secrets (``mailtos://hlidka:${SMTP_PASSWORD}@…``, bot
tokens), so they are expanded only at send time, from the environment of the
process that sends, and the expanded URL never leaves this module: errors
handed back for the outbox's ``last_error`` and apprise's own log lines
(which at DEBUG level include request URLs with tokens in them) have every
secret value cut out.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise
import jinja2
from apprise import AppriseAsset, AppriseResult, AppriseResultStatus, NotifyFormat

from alerts.render import AlertContext, RenderedAlert, TermCount, render_alert
from config import Config, MissingEnvironment, expand_env
from config.loader import env_references

logger = logging.getLogger("hlidka.alerts")

#: apprise names itself in email headers, webhook User-Agents and Slack footers.
_ASSET = AppriseAsset(app_id="Hlidka", app_desc="Hlídka news alerts")

#: Loggers that write request URLs (and so tokens) at DEBUG level during a send.
_LEAKY_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry")

#: Shorter values are left alone: cutting "25" or "on" out of every message would garble
#: them, and nothing that short is a secret worth the name.
_MIN_SECRET_LENGTH = 4
#: A path segment or query value this long without '.' or '@' is a token typed into the URL
#: itself (Slack and Discord webhook keys); host names and addresses are not secrets.
_MIN_TOKEN_LENGTH = 16
_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_MAX_ERROR_LENGTH = 1000
REDACTED = "***"


class ChannelUnavailable(Exception):
    """The channel cannot be used until someone fixes the configuration or the environment.

    Alerts for it wait in the outbox rather than failing: nothing was tried,
    so no attempt is counted, and they go out once the variable is set.
    """

    def __init__(self, channel: str, missing: tuple[str, ...] = ()):
        self.channel = channel
        self.missing = missing
        if missing:
            names = ", ".join(missing)
            message = f"channel '{channel}' needs environment variable {names}, which is not set"
        else:
            message = f"channel '{channel}' is not defined in settings.yaml"
        super().__init__(message)


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    #: Safe to store and show: never contains the URL or a secret.
    error: str | None = None


@dataclass(frozen=True)
class ResolvedChannel:
    """A channel with its URL expanded; kept out of reprs so a traceback cannot print the secret."""

    name: str
    url: str = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)

    def redact(self, text: str) -> str:
        return _redact(text, self.secrets)


# --------------------------------------------------------------------------- secrets


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _secret_values(template: str, url: str, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Everything in the expanded URL that could be a credential, longest first.

    Longest first so that the whole URL is cut before its parts, and each value
    also in its percent-encoded and decoded spellings, which is how apprise
    and urllib3 print them.
    """
    parts = urlsplit(url)
    values = {url, parts.password or ""}
    values.update(environ[name] for name in _ENV_NAME.findall(template) if name in environ)
    # Telegram's bot token sits where a host would be ("tgram://123:ABC…/chat"), so the netloc is split too.
    pieces = [*re.split(r"[@:]", parts.netloc), *parts.path.split("/"), *(v for _k, v in parse_qsl(parts.query))]
    values.update(p for p in pieces if len(p) >= _MIN_TOKEN_LENGTH and not {".", "@"} & set(p))
    spellings = {form for value in values for form in (value, quote(value, safe=""), unquote(value))}
    return tuple(sorted((s for s in spellings if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True))


class _SecretFilter(logging.Filter):
    """Cuts every secret this process has resolved out of log records of the leaky loggers.

    Installed once and never removed: apprise and paho may log from their own
    threads after a send has returned, and adding or removing filters while
    another thread logs could skip one.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def remember(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            self._secrets = tuple(sorted(set(self._secrets) | set(secrets), key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        message = record.getMessage()
        cleaned = _redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            if _redact(trace, secrets) != trace:
                record.exc_text, record.exc_info = _redact(trace, secrets), None
        return True


_SECRET_FILTER = _SecretFilter()
for _name in _LEAKY_LOGGERS:
    logging.getLogger(_name).addFilter(_SECRET_FILTER)


# --------------------------------------------------------------------------- resolving


def resolve_channel(config: Config, name: str, environ: Mapping[str, str] | None = None) -> ResolvedChannel:
    """Expand the channel's URL now, so a secret set or rotated after start-up is picked up.

    Raises :class:`ChannelUnavailable` naming the channel and the missing
    variable; the value of any variable never appears in it.
    """
    env = os.environ if environ is None else environ
    channel = config.settings.channels.get(name)
    if channel is None:
        raise ChannelUnavailable(name)
    try:
        url = expand_env(channel.url, env)
    except MissingEnvironment:
        raise ChannelUnavailable(name, tuple(v for v in env_references(channel.url) if v not in env)) from None
    secrets = _secret_values(channel.url, url, env)
    _SECRET_FILTER.remember(secrets)
    return ResolvedChannel(name, url, secrets)


# --------------------------------------------------------------------------- sending


def choose_body(plugin: apprise.NotifyBase, alert: RenderedAlert) -> tuple[str, NotifyFormat]:
    """Pick the body the service shows best, so apprise has nothing to convert.

    Chats that speak any Markdown get ours (apprise turns CommonMark into
    Slack's or Telegram's dialect); services that take HTML but no Markdown
    are email (SMTP, Mailgun, SES…), which get the HTML document — apprise's
    SMTP plugin then sends multipart/alternative with a text/plain part
    derived from it; text-only services (MQTT, syslog) and any URL with
    ``?format=text`` get the plain text.
    """
    resolved = plugin.resolve_format(NotifyFormat.MARKDOWN)
    if resolved == NotifyFormat.MARKDOWN:
        return alert.markdown, NotifyFormat.MARKDOWN
    if resolved == NotifyFormat.HTML:
        return alert.html, NotifyFormat.HTML
    return alert.text, NotifyFormat.TEXT


@dataclass(frozen=True)
class BodyShape:
    """How much a channel takes in one message, in the format :func:`choose_body` picks for it."""

    format: NotifyFormat
    #: Characters of body (and of the title, when the service puts it into the body); None: no practical limit.
    limit: int | None
    title_in_body: bool

    def size(self, alert: RenderedAlert) -> int:
        body = {NotifyFormat.MARKDOWN: alert.markdown, NotifyFormat.HTML: alert.html}.get(self.format, alert.text)
        return len(body) + (len(alert.title) + 2 if self.title_in_body else 0)

    def fits(self, alert: RenderedAlert) -> bool:
        return self.limit is None or self.size(alert) <= self.limit


#: apprise converts our CommonMark into each chat's dialect, which can come out a little longer.
_DIALECT_MARGIN = 0.85
#: Email has no limit that matters, and MQTT's is a quarter of a gigabyte.
_NO_PRACTICAL_LIMIT = 1_000_000

UNLIMITED = BodyShape(NotifyFormat.HTML, None, False)


def body_shape(channel: ResolvedChannel) -> BodyShape:
    """The channel's format and size limit, so that long digests can be cut into messages that fit.

    A URL apprise cannot use gets no limit here: sending it fails with the reason anyway.
    """
    notifier = apprise.Apprise(asset=_ASSET)
    with _apprise_warnings():
        if not notifier.add(channel.url):
            return UNLIMITED
    plugin = notifier[0]
    body_format = plugin.resolve_format(NotifyFormat.MARKDOWN)
    if body_format == NotifyFormat.HTML or plugin.body_maxlen >= _NO_PRACTICAL_LIMIT:
        return BodyShape(body_format, None, plugin.title_maxlen <= 0)
    return BodyShape(body_format, int(plugin.body_maxlen * _DIALECT_MARGIN), plugin.title_maxlen <= 0)


class _ThreadWarnings(logging.Handler):
    """Warnings logged by the thread that created it; other threads' sends are not mixed in."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _apprise_warnings() -> Iterator[list[str]]:
    """What apprise logs while refusing a URL: ``add()`` itself returns only False."""
    handler = _ThreadWarnings()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        apprise_logger.removeHandler(handler)


_PROBLEM_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})


def _describe(result: AppriseResult) -> str:
    messages = dict.fromkeys(entry.message for entry in result.logs() if entry.level in _PROBLEM_LEVELS)
    status = result.status.name
    if result.status == AppriseResultStatus.TIMEOUT:
        status += " (it may still have been delivered)"
    return f"{status}: {'; '.join(messages) or 'no details from apprise'}"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_LENGTH else text[: _MAX_ERROR_LENGTH - 1] + "…"


def deliver(channel: ResolvedChannel, alert: RenderedAlert) -> DeliveryResult:
    """Send through a fresh one-URL Apprise object and report success only when apprise confirms it.

    A fresh object per send: a dead channel cannot hold back or re-send
    another, and a connection that died since the last send (MQTT keeps one
    per object) is not reused. No ``notify(timeout=…)``: a timeout means
    "unknown", so the per-URL ``cto``/``rto`` limits are the ones to tune.
    """
    notifier = apprise.Apprise(asset=_ASSET)
    with _apprise_warnings() as refusal:
        added = notifier.add(channel.url)
    if not added:
        reason = "; ".join(dict.fromkeys(refusal)) or "unsupported or malformed URL"
        return DeliveryResult(False, _clip(channel.redact(f"apprise cannot use this channel's URL: {reason}")))
    body, body_format = choose_body(notifier[0], alert)
    result = notifier.notify(body=body, title=alert.title, body_format=body_format)
    if result.status == AppriseResultStatus.SUCCESS:
        return DeliveryResult(True)
    return DeliveryResult(False, _clip(channel.redact(_describe(result))))


def sample_alert_context() -> AlertContext:
    """A message that shows at a glance whether accents and Cyrillic survive the channel."""
    snippet = "… Korejská republika je s jihokorejským ministerstvem i s Південної Кореї v kontaktu …"
    highlights = ("Korejská republika", "jihokorejským", "Південної Кореї")
    spans = [(snippet.index(term), snippet.index(term) + len(term)) for term in highlights]
    return AlertContext(
        watchlist_id="test",
        watchlist_name="Hlídka test",
        title="Zkušební upozornění — Тестове сповіщення",
        url="https://example.org/hlidka-test",
        source_id="hlidka",
        source_name="Hlídka",
        published=datetime.now(UTC),
        language="cs",
        score=1.0,
        terms=tuple(TermCount(term, 1) for term in highlights),
        snippet=snippet,
        spans=spans,
    )


def send_test(config: Config, channel_name: str) -> tuple[bool, str]:
    """``hlidka alerts test CHANNEL``: render a sample with the user's templates and send it now.

    Doubles as the check of an edited template: a template error comes back
    as the message instead of a traceback.
    """
    try:
        channel = resolve_channel(config, channel_name)
    except ChannelUnavailable as exc:
        return False, str(exc)
    try:
        rendered = render_alert(sample_alert_context(), config.directory / "templates")
    except jinja2.TemplateError as exc:
        return False, f"template error: {type(exc).__name__}: {exc}"
    result = deliver(channel, rendered)
    if result.ok:
        return True, f"test alert sent to channel '{channel_name}'"
    return False, f"channel '{channel_name}': {result.error}"
