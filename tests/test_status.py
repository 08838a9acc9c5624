"""``hlidka status`` (table and JSON) and the Prometheus endpoint, on a database with known contents."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from alerts import jobs
from config import Config, load_config
from hlidka.db import Alert, Article, CrawlRun, Database, open_database, utcnow
from hlidka.db.models import SourceHealth
from hlidka.fixtureweb import write_fixture_config
from hlidka.metrics import serve_metrics
from alerts.instance import beat
from pipelines.matching import lint_watchlist


@pytest.fixture
def known_state(tmp_path: Path, database_url: str) -> tuple[Path, Config, Database]:
    directory = write_fixture_config(tmp_path / "config", "http://127.0.0.1:9", smtp_port=2525)
    settings_path = directory / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["database"] = database_url
    settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    sources_path = directory / "sources.yaml"
    sources = yaml.safe_load(sources_path.read_text(encoding="utf-8"))
    sources["sources"][0]["interval"] = "1h"  # mocr: crawled 5 minutes ago, next in 55
    sources_path.write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    config = load_config(directory, linters=(lint_watchlist,))
    database = open_database(database_url)
    now = utcnow()
    with database.session() as session, session.begin():
        session.add_all([
            CrawlRun(source_id="mocr", status="ok", pages=13, article_links=9, articles_found=9, articles_new=9,
                     articles_rejected=0, started_at=now - timedelta(minutes=20), finished_at=now - timedelta(minutes=19)),
            CrawlRun(source_id="mocr", status="ok", pages=2, article_links=None, articles_found=0, articles_new=0,
                     articles_rejected=0, started_at=now - timedelta(minutes=5),
                     finished_at=now - timedelta(minutes=5) + timedelta(seconds=20)),
            CrawlRun(source_id="zpravy", status="failed", pages=0, message="finish reason 'finished'; listing pages read: 0",
                     started_at=now - timedelta(minutes=4), finished_at=now - timedelta(minutes=4)),
            SourceHealth(source_id="zpravy", state="broken", reason="failed_runs",
                         problem="its last 3 runs failed", since=now - timedelta(minutes=4)),
        ])
        articles = [Article(source_id="mocr", canonical_url=f"http://127.0.0.1:9/mocr/a-{i}", title=f"A {i}",
                            text="…", content_hash=f"{i:064d}", fetched_at=now - timedelta(minutes=19)) for i in range(2)]
        session.add_all(articles)
        session.flush()
        session.add_all([
            Alert(dedupe_key="story:1:korea:analysts-email", article_id=articles[0].id, watchlist_id="korea",
                  channel="analysts-email", status="sent", sent_at=now - timedelta(minutes=18), attempts=1),
            Alert(dedupe_key="story:2:korea:analysts-email", article_id=articles[1].id, watchlist_id="korea",
                  channel="analysts-email", status="pending", created_at=now - timedelta(minutes=3)),
            Alert(dedupe_key="ops:source:zpravy:broken:3:analysts-email", kind="operations", channel="analysts-email",
                  subject="source zpravy is broken", body="…", status="failed", attempts=9),
        ])
    scheduler = BackgroundScheduler(jobstores={jobs.JOBSTORE: SQLAlchemyJobStore(engine=database.engine)},
                                    executors={jobs.EXECUTOR: ThreadPoolExecutor(1)}, timezone="UTC")
    scheduler.start(paused=True)
    jobs.sync_jobs(scheduler, config, {"mocr": now - timedelta(minutes=5), "zpravy": now - timedelta(minutes=4)}, now)
    jobs.shutdown(scheduler)
    beat(database, now - timedelta(hours=1))
    return directory, config, database


def hlidka(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "hlidka", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_table_and_json(known_state: tuple[Path, Config, Database]) -> None:
    directory, _config, database = known_state
    table = hlidka("status", "--config", str(directory))
    lines = {line.split()[0]: line for line in table.splitlines() if line.split() and not line.startswith(" ")}
    assert "service: running as" in table
    assert "ok in 20s: 2 pages, listing unchanged, 0 new" in lines["mocr"] and " 2 " in lines["mocr"]
    assert "BROKEN since" in lines["zpravy"] and "(4m ago)" in lines["zpravy"]
    assert "  zpravy is broken: its last 3 runs failed" in table
    assert "never run" in lines["ua"]
    assert "every 1h ±1m" in lines["mocr"] and "(in 5" in lines["mocr"]
    queue_rows = [line.split()[:6] for line in table.splitlines() if line.startswith("analysts-email")]
    assert queue_rows == [["analysts-email", "match", "1", "0", "0", "1"],
                          ["analysts-email", "operations", "0", "0", "1", "0"]]

    status = json.loads(hlidka("status", "--config", str(directory), "--json"))
    by_id = {s["id"]: s for s in status["sources"]}
    assert by_id["mocr"]["last_run"]["pages"] == 2 and by_id["mocr"]["new_today"] == 2
    assert by_id["zpravy"]["health"]["state"] == "broken"
    assert by_id["ua"]["last_run"] is None and by_id["ua"]["next_run"] is not None
    queue = {(q["channel"], q["kind"]): q for q in status["alert_queue"]}
    assert queue[("analysts-email", "operations")]["failed"] == 1
    assert status["service"]["running"] is True
    database.dispose()


def test_metrics_endpoint_reports_the_database_figures(known_state: tuple[Path, Config, Database]) -> None:
    _directory, config, database = known_state
    server, port = serve_metrics(database, lambda: config, "127.0.0.1", 0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        server.shutdown()
        database.dispose()
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line and not line.startswith("#")}
    assert samples['hlidka_crawl_runs_total{source="mocr",status="ok"}'] == 2
    assert samples['hlidka_crawl_runs_total{source="zpravy",status="failed"}'] == 1
    assert samples['hlidka_crawl_pages_total{source="mocr"}'] == 15
    assert samples['hlidka_articles_new_total{source="mocr"}'] == 9
    assert samples['hlidka_articles_new_total{source="ua"}'] == 0
    assert samples['hlidka_alerts_sent_total{channel="analysts-email",kind="match"}'] == 1
    assert samples['hlidka_alerts_failed_total{channel="analysts-email",kind="operations"}'] == 1
    assert samples['hlidka_alert_queue_depth{channel="analysts-email"}'] == 1
    assert 150 < samples['hlidka_alert_queue_oldest_seconds{channel="analysts-email"}'] < 600
    assert samples['hlidka_source_broken{reason="failed_runs",source="zpravy"}'] == 1
    assert samples['hlidka_source_broken{reason="",source="mocr"}'] == 0
    last_ok = samples['hlidka_source_last_success_timestamp_seconds{source="mocr"}']
    assert abs(last_ok - (utcnow() - timedelta(minutes=5)).timestamp()) < 120
    assert 'hlidka_source_last_success_timestamp_seconds{source="zpravy"}' not in samples
    assert samples['hlidka_source_next_run_timestamp_seconds{source="ua"}'] > 0
    assert samples['hlidka_source_last_run_duration_seconds{source="mocr"}'] == 20
    assert samples['hlidka_source_last_run_duration_seconds{source="zpravy"}'] == 0
    assert "process_resident_memory_bytes" in samples
