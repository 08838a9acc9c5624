"""Delivery through apprise on real loopback services: SMTP, an HTTP webhook, MQTT; Slack and Telegram payloads.

Slack and Telegram are reached through ``responses`` (apprise uses requests),
so their exact payloads are checked without leaving the machine.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from alerts.channels import ChannelUnavailable, deliver, resolve_channel, send_test
from alerts.render import AlertContext, RenderedAlert, TermCount, render_alert
from hlidka.mailsink import MailSink
from support.alerts_helpers import (
    CZECH_TEXT,
    CZECH_TITLE,
    UKRAINIAN_TEXT,
    UKRAINIAN_TITLE,
    WebhookReceiver,
    make_config,
)

SLACK_URL = "slack://T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx/#analytici"
SLACK_ENDPOINT = "https://hooks.slack.com/services/T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM_URL = f"tgram://{TELEGRAM_TOKEN}/-1001234567/"
TELEGRAM_ENDPOINT = f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage"


def context_for(title: str, text: str, phrase: str, language: str) -> AlertContext:
    start = text.index(phrase)
    return AlertContext(
        watchlist_id="korea", watchlist_name="Korea", title=title, url="https://www.mocr.cz/clanek_(1)",
        source_id="mocr", source_name="MO ČR", published=datetime(2024, 9, 12, 8, 30, tzinfo=UTC),
        language=language, score=4.0, terms=(TermCount(phrase, 1),), snippet=text,
        spans=[(start, start + len(phrase))], other_urls=["https://b.cz/x_y"],
    )


@pytest.fixture
def chat_alert() -> RenderedAlert:
    snippet = "… Korejská republika a Південної Кореї …"
    spans = [(2, 20), (23, 38)]
    assert [snippet[s:e] for s, e in spans] == ["Korejská republika", "Південної Кореї"]
    return render_alert(AlertContext(
        watchlist_id="korea", watchlist_name="Korea", title="Korejská republika jihokorejským partnerům",
        url="https://www.mocr.cz/clanek_(1)", source_id="mocr", source_name="MO ČR",
        published=datetime(2024, 9, 12, 8, 30, tzinfo=UTC), language="cs", score=4.0,
        terms=(TermCount("Korejská republika", 1), TermCount("Південна Корея", 1)),
        snippet=snippet, spans=spans, other_urls=["https://b.cz/x_y"],
    ))


def sent_payload() -> Any:
    """The JSON body of the one request ``responses`` intercepted."""
    [call] = responses.calls
    assert isinstance(call.request.body, (bytes, str))
    return json.loads(call.request.body)


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize("title, text, phrase, language", [
    (CZECH_TITLE, CZECH_TEXT, "Korejská republika", "cs"),
    (UKRAINIAN_TITLE, UKRAINIAN_TEXT, "Південної Кореї", "uk"),
])
def test_email_arrives_with_decoded_subject_and_both_parts(
    mail: MailSink, tmp_path: Path, title: str, text: str, phrase: str, language: str,
) -> None:
    rendered = render_alert(context_for(title, text, phrase, language))
    channel = resolve_channel(make_config(tmp_path, {"email": mail.mailto_url()}), "email")

    assert deliver(channel, rendered).ok

    [message] = mail.wait_for(1)
    assert message.subject == f"[Korea] {title}"
    assert message.sender == "Hlidka <hlidka@example.org>"
    assert message.envelope_to == ("analytik@example.org",)
    assert message.message.get_content_type() == "multipart/alternative"
    assert message.html is not None and message.text is not None
    assert title in message.html and "<mark" in message.html and phrase in message.html
    assert title in message.text and phrase in message.text
    assert "https://www.mocr.cz/clanek_(1)" in message.text, "the plain part keeps the article URL"
    assert "<" not in message.text, "the plain part is text, not markup"


def test_czech_phrase_survives_both_parts(mail: MailSink, tmp_path: Path) -> None:
    rendered = render_alert(context_for(CZECH_TITLE, CZECH_TEXT, "jihokorejským", "cs"))
    assert deliver(resolve_channel(make_config(tmp_path, {"email": mail.mailto_url()}), "email"), rendered).ok
    [message] = mail.wait_for(1)
    assert "Korejská republika jihokorejským" in message.subject
    assert "Korejská republika jihokorejským" in (message.text or "")
    assert "Korejská republika jihokorejským" in (message.html or "")


def test_email_with_format_text_gets_our_plain_text_only(mail: MailSink, tmp_path: Path) -> None:
    rendered = render_alert(context_for(UKRAINIAN_TITLE, UKRAINIAN_TEXT, "Південної Кореї", "uk"))
    channel = resolve_channel(make_config(tmp_path, {"email": mail.mailto_url() + "&format=text"}), "email")
    assert deliver(channel, rendered).ok
    [message] = mail.wait_for(1)
    assert message.html is None
    assert (message.text or "").strip() == rendered.text


def test_one_message_per_recipient(mail: MailSink, tmp_path: Path, chat_alert: RenderedAlert) -> None:
    url = mail.mailto_url(to="a@example.org,b@example.org")
    assert deliver(resolve_channel(make_config(tmp_path, {"email": url}), "email"), chat_alert).ok
    messages = mail.wait_for(2)
    assert sorted(m.envelope_to for m in messages) == [("a@example.org",), ("b@example.org",)]


def test_mail_server_down_is_a_failure_then_up_again_on_the_same_url(tmp_path: Path, chat_alert: RenderedAlert) -> None:
    sink = MailSink()
    try:
        channel = resolve_channel(make_config(tmp_path, {"email": sink.mailto_url()}), "email")
        result = deliver(channel, chat_alert)
        assert not result.ok and result.error and result.error.startswith("FAILURE")
        sink.start()
        assert deliver(channel, chat_alert).ok
        assert len(sink.wait_for(1)) == 1
        sink.stop()
        assert not deliver(channel, chat_alert).ok
        sink.start()
        assert deliver(channel, chat_alert).ok
        assert len(sink.wait_for(2)) == 2
    finally:
        sink.close()


# --------------------------------------------------------------------------- webhook and chats


def test_json_webhook_gets_title_and_markdown(webhook: WebhookReceiver, tmp_path: Path, chat_alert: RenderedAlert) -> None:
    channel = resolve_channel(make_config(tmp_path, {"hook": webhook.url()}), "hook")
    assert deliver(channel, chat_alert).ok
    [request] = webhook.requests
    assert request.path == "/hooks/hlidka"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Hlidka"
    assert request.json() == {"version": "1.0", "title": chat_alert.title, "message": chat_alert.markdown,
                              "attachments": [], "type": "info"}


def test_json_webhook_with_format_text_gets_plain_text(webhook: WebhookReceiver, tmp_path: Path,
                                                       chat_alert: RenderedAlert) -> None:
    channel = resolve_channel(make_config(tmp_path, {"hook": webhook.url() + "?format=text"}), "hook")
    assert deliver(channel, chat_alert).ok
    assert webhook.requests[0].json()["message"] == chat_alert.text


def test_webhook_error_status_is_a_failure(webhook: WebhookReceiver, tmp_path: Path, chat_alert: RenderedAlert) -> None:
    webhook.statuses.append(500)
    result = deliver(resolve_channel(make_config(tmp_path, {"hook": webhook.url()}), "hook"), chat_alert)
    assert not result.ok
    assert result.error is not None and result.error.startswith("FAILURE") and "500" in result.error


@responses.activate
def test_slack_payload(tmp_path: Path, chat_alert: RenderedAlert) -> None:
    responses.add(responses.POST, SLACK_ENDPOINT, body="ok")
    assert deliver(resolve_channel(make_config(tmp_path, {"slack": SLACK_URL}), "slack"), chat_alert).ok
    payload = sent_payload()
    assert payload["channel"] == "#analytici" and payload["mrkdwn"] is True
    [attachment] = payload["attachments"]
    assert attachment["title"] == "[Korea] Korejská republika jihokorejským partnerům"
    assert attachment["text"] == (
        "<https://www.mocr.cz/clanek_(1)|Korejská republika jihokorejským partnerům>\n\n"
        "MO ČR · 2024-09-12 08:30 UTC · cs · score 4.0\n\n"
        "> … *Korejská republika* a *Південної Кореї* …\n\n"
        "Terms: *Korejská republika* ×1, *Південна Корея* ×1\n\n"
        "Also at:\n"
        "- <https://b.cz/x_y|https://b.cz/x_y>"
    )


@responses.activate
def test_telegram_payload(tmp_path: Path, chat_alert: RenderedAlert) -> None:
    responses.add(responses.POST, TELEGRAM_ENDPOINT, json={"ok": True, "result": {}})
    assert deliver(resolve_channel(make_config(tmp_path, {"tg": TELEGRAM_URL}), "tg"), chat_alert).ok
    payload = sent_payload()
    assert payload["chat_id"] == -1001234567
    assert payload["parse_mode"] == "MARKDOWN"
    assert payload["text"] == (
        "*[Korea] Korejská republika jihokorejským partnerům*\n"
        "[Korejská republika jihokorejským partnerům](https://www.mocr.cz/clanek_(1\\))\n\n"
        "MO ČR · 2024-09-12 08:30 UTC · cs · score 4.0\n\n"
        "> … *Korejská republika* a *Південної Кореї* …\n\n"
        "Terms: *Korejská republika* ×1, *Південна Корея* ×1\n\n"
        "Also at:\n"
        "- [https://b.cz/x\\_y](https://b.cz/x_y)"
    )


# --------------------------------------------------------------------------- MQTT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[int]:
    from conftest import port_open, service_missing

    binary = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    if binary is None:
        service_missing("mosquitto is not installed")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([str(binary), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or broker.poll() is not None:
                service_missing("mosquitto did not start")
            time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(timeout=10)


@pytest.mark.mqtt
def test_mqtt_gets_title_and_plain_text(mqtt_broker: int, tmp_path: Path, chat_alert: RenderedAlert) -> None:
    import paho.mqtt.client as mqtt

    received: list[mqtt.MQTTMessage] = []
    arrived, subscribed = threading.Event(), threading.Event()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_subscribe = lambda *args: subscribed.set()

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(message)
        arrived.set()

    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", mqtt_broker)
    subscriber.subscribe("hlidka/alerts/#", qos=1)
    subscriber.loop_start()
    try:
        assert subscribed.wait(5)
        url = f"mqtt://127.0.0.1:{mqtt_broker}/hlidka/alerts/korea?qos=1&client_id=hlidka-test"
        assert deliver(resolve_channel(make_config(tmp_path, {"mqtt": url}), "mqtt"), chat_alert).ok
        assert arrived.wait(5)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    [message] = received
    assert message.topic == "hlidka/alerts/korea" and message.qos == 1
    assert message.payload.decode("utf-8") == f"{chat_alert.title}\r\n{chat_alert.text}"


# --------------------------------------------------------------------------- secrets


SECRETS = {"HOOK_PASSWORD": "pa55-Wörd-7731", "HOOK_TOKEN": "tok3n0123456789abcdef", "HOOK_KEY": "k3y-sup3r-s3cr3t"}


def test_failing_webhook_with_secrets_leaks_none_of_them(
    webhook: WebhookReceiver, tmp_path: Path, chat_alert: RenderedAlert,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    webhook.statuses.append(500)
    template = f"json://hlidka:${{HOOK_PASSWORD}}@127.0.0.1:{webhook.port}/hooks/${{HOOK_TOKEN}}?+X-Api-Key=${{HOOK_KEY}}"
    channel = resolve_channel(make_config(tmp_path, {"hook": template}), "hook")

    result = deliver(channel, chat_alert)

    [request] = webhook.requests
    assert request.path == f"/hooks/{SECRETS['HOOK_TOKEN']}" and request.headers["X-Api-Key"] == SECRETS["HOOK_KEY"]
    credentials = base64.b64decode(request.headers["Authorization"].split()[1]).decode("latin-1")  # as requests sends it
    assert credentials == f"hlidka:{SECRETS['HOOK_PASSWORD']}", "the secrets were really used"
    assert not result.ok and result.error and "500" in result.error
    assert "JSON POST URL" in caplog.text, "apprise's DEBUG lines were captured"
    for secret in SECRETS.values():
        assert secret not in result.error
        assert secret not in caplog.text
        assert secret not in repr(channel)
    assert channel.url not in result.error


def test_failing_smtp_login_leaks_no_password(
    tmp_path: Path, chat_alert: RenderedAlert, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "Sm7p-pa55w0rd")
    caplog.set_level(logging.DEBUG)
    down = MailSink()
    try:
        url = (f"mailtos://hlidka:${{SMTP_PASSWORD}}@example.org?smtp=127.0.0.1&port={down.port}"
               "&mode=starttls&from=hlidka@example.org&to=analytik@example.org")
        result = deliver(resolve_channel(make_config(tmp_path, {"email": url}), "email"), chat_alert)
    finally:
        down.close()
    assert not result.ok and result.error
    assert "Sm7p-pa55w0rd" not in result.error and "Sm7p-pa55w0rd" not in caplog.text


@responses.activate
def test_telegram_token_written_in_the_url_is_not_logged(
    tmp_path: Path, chat_alert: RenderedAlert, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.add(responses.POST, TELEGRAM_ENDPOINT, status=401, json={"ok": False, "description": "Unauthorized"})
    result = deliver(resolve_channel(make_config(tmp_path, {"tg": TELEGRAM_URL}), "tg"), chat_alert)
    assert not result.ok and result.error and "401" in result.error
    assert "Telegram POST URL" in caplog.text
    secret_part = TELEGRAM_TOKEN.split(":")[1]
    assert secret_part not in caplog.text and secret_part not in result.error


@responses.activate
def test_slack_webhook_key_written_in_the_url_is_not_logged(
    tmp_path: Path, chat_alert: RenderedAlert, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.add(responses.POST, SLACK_ENDPOINT, status=404, body="no_service")
    result = deliver(resolve_channel(make_config(tmp_path, {"slack": SLACK_URL}), "slack"), chat_alert)
    assert not result.ok and result.error and "404" in result.error
    assert "Slack POST URL" in caplog.text
    assert "abcdefghijklmnopqrstuvwx" not in caplog.text and "abcdefghijklmnopqrstuvwx" not in result.error


def test_unusable_url_is_reported_without_it(
    tmp_path: Path, chat_alert: RenderedAlert, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BROKEN_TOKEN", "br0ken-t0ken-value")
    caplog.set_level(logging.DEBUG)
    result = deliver(resolve_channel(make_config(tmp_path, {"x": "notaservice://${BROKEN_TOKEN}"}), "x"), chat_alert)
    assert not result.ok and result.error and "cannot use" in result.error
    assert "br0ken-t0ken-value" not in result.error and "br0ken-t0ken-value" not in caplog.text


# --------------------------------------------------------------------------- resolving and `alerts test`


def test_missing_variable_names_channel_and_variable_but_no_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_USER", "some-user-value")
    monkeypatch.delenv("HOOK_PASSWORD", raising=False)
    config = make_config(tmp_path, {"hook": "json://${HOOK_USER}:${HOOK_PASSWORD}@127.0.0.1:9/x"})
    with pytest.raises(ChannelUnavailable) as caught:
        resolve_channel(config, "hook")
    assert caught.value.channel == "hook" and caught.value.missing == ("HOOK_PASSWORD",)
    assert "'hook'" in str(caught.value) and "HOOK_PASSWORD" in str(caught.value)
    assert "some-user-value" not in str(caught.value)


def test_unknown_channel_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ChannelUnavailable, match="'gone' is not defined"):
        resolve_channel(make_config(tmp_path, {}), "gone")


def test_url_is_expanded_at_send_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, {"hook": "json://127.0.0.1:9/${HOOK_PATH}"})
    monkeypatch.setenv("HOOK_PATH", "first")
    assert resolve_channel(config, "hook").url.endswith("/first")
    monkeypatch.setenv("HOOK_PATH", "second")
    assert resolve_channel(config, "hook").url.endswith("/second")


def test_send_test_uses_the_user_templates(mail: MailSink, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.html.j2").write_text("<p>Vlastní šablona: {{ alert.title }}</p>", encoding="utf-8")
    ok, message = send_test(make_config(tmp_path, {"email": mail.mailto_url()}), "email")
    assert ok, message
    assert message == "test alert sent to channel 'email'"
    [mail_message] = mail.wait_for(1)
    assert "Тестове сповіщення" in mail_message.subject and "Zkušební" in mail_message.subject
    assert mail_message.html is not None and "Vlastní šablona" in mail_message.html


def test_send_test_reports_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    down = MailSink()
    try:
        config = make_config(tmp_path, {"email": down.mailto_url(), "needs": "json://${NOT_SET_ANYWHERE}@127.0.0.1:9/"})
        ok, message = send_test(config, "email")
        assert not ok and message.startswith("channel 'email': FAILURE")
    finally:
        down.close()
    assert send_test(config, "needs") == (False, "channel 'needs' needs environment variable NOT_SET_ANYWHERE, which is not set")
    assert send_test(config, "nope") == (False, "channel 'nope' is not defined in settings.yaml")


def test_send_test_reports_a_broken_template(mail: MailSink, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.md.j2").write_text("{% if %}", encoding="utf-8")
    ok, message = send_test(make_config(tmp_path, {"email": mail.mailto_url()}), "email")
    assert not ok and message.startswith("template error: TemplateSyntaxError")
    assert mail.messages == []
