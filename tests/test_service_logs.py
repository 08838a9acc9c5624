"""Structured logs: one JSON object per line when asked for, with the fields a call passes along."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from hlidka.fixtureweb import FixtureWeb, write_fixture_config
from hlidka.logs import JsonFormatter


def test_a_json_line_carries_the_extra_fields_and_the_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hlidka.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("crawl of %s failed: %s", "mocr", "timeout", extra={"source": "mocr", "event": "crawl_failed"})
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "crawl of mocr failed: timeout"
    assert (first["level"], first["logger"], first["source"], first["event"]) == (
        "ERROR", "hlidka.test-json", "mocr", "crawl_failed")
    assert first["time"].endswith("+00:00") and first["pid"] == os.getpid()
    assert "ValueError: bad" in second["exception"]


def test_the_service_logs_json_when_the_environment_asks(tmp_path: Path) -> None:
    directory = write_fixture_config(tmp_path / "config", "http://127.0.0.1:9")
    (directory / "watchlists" / "broken.yaml").write_text("any: [Korea]\nmin_hits: 2\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "HLIDKA_LOG_FORMAT": "json"})
    assert result.returncode == 2
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    refused = [e for e in entries if e["logger"] == "hlidka.service"]
    assert refused and refused[0]["level"] == "ERROR"
    assert "broken.yaml:2: error: min_hits: unknown key" in refused[0]["message"]


def _crawl_log(directory: Path, log_level: str) -> str:
    settings = directory / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + f"log_level: {log_level}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(directory)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "new articles" in result.stdout
    return result.stderr


def test_hlidka_crawl_logs_at_the_level_settings_yaml_gives(tmp_path: Path) -> None:
    with FixtureWeb() as web:
        chatty = _crawl_log(write_fixture_config(tmp_path / "info", web.base_url), "INFO")
        quiet = _crawl_log(write_fixture_config(tmp_path / "warning", web.base_url), "WARNING")
    assert " INFO    pipelines.store: stored " in chatty
    assert " INFO " not in quiet and " DEBUG " not in quiet
