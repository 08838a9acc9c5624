"""Configuration: the shipped files validate; mistakes are reported with file, line and field."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from config import ConfigError, check_config, expand_env, load_config
from config.loader import MissingEnvironment, load_watchlist_file
from config.schema import parse_duration

SHIPPED = Path(__file__).resolve().parent.parent / "config"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hlidka", *args], capture_output=True, text=True, timeout=120)


def test_shipped_config_is_valid() -> None:
    config = load_config(SHIPPED)
    assert {s.id for s in config.sources} >= {"mocr", "nato-news", "ukrinform"}
    assert {w.id for w in config.watchlists} == {"korea", "nato", "indo-pacific"}
    mocr = config.source("mocr")
    assert mocr.alias_hosts == ["mocr.army.cz"] and mocr.interval == timedelta(minutes=15)
    assert config.database_url.endswith("/data/hlidka.db")


def test_check_command_accepts_shipped_config() -> None:
    result = run_cli("check", "--config", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_typo_in_watchlist_key_names_file_line_and_field(config_dir: Path) -> None:
    path = config_dir / "watchlists" / "nato.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("any:"))
    lines[index] = "anny:"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("check", "--config", str(config_dir))
    assert result.returncode == 1
    assert f"nato.yaml:{index + 1}: error: anny: unknown key (typo?)" in result.stderr


def test_wrong_type_names_file_line_and_field(config_dir: Path) -> None:
    path = config_dir / "watchlists" / "korea.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "alert:\n  min_hits: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchlist_file(path)
    [issue] = [i for i in caught.value.issues if i.field == "alert.min_hits"]
    assert issue.line == len(text.splitlines()) + 2
    assert "valid number" in issue.message


def test_grouped_term_error_points_at_the_term_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("any:\n  cs:\n    - Korea\n  uk:\n    - Корея\n    - ko*rej\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchlist_file(path)
    [issue] = caught.value.issues
    assert (issue.line, issue.field) == (6, "any[2].term")
    assert "only at the end of a word" in issue.message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("any:\n  - Korea\n  - [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchlist_file(path)
    assert caught.value.issues[0].line is not None
    assert "YAML syntax" in caught.value.issues[0].message


def test_unknown_channel_and_duplicate_source_are_errors(config_dir: Path) -> None:
    (config_dir / "watchlists" / "extra.yaml").write_text(
        "id: extra\nalert:\n  channels: [nowhere]\nany: [Taiwan]\n", encoding="utf-8")
    sources = config_dir / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8").replace("id: nato-news", "id: mocr"), encoding="utf-8")
    config, issues = check_config(config_dir)
    assert config is None
    messages = [str(i) for i in issues if i.level == "error"]
    assert any("unknown channel 'nowhere'" in m for m in messages)
    assert any("source id 'mocr' is used twice" in m for m in messages)


def test_missing_secret_is_a_warning_not_an_error(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HLIDKA_SMTP_USER", "HLIDKA_SMTP_PASSWORD", "HLIDKA_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    config, issues = check_config(config_dir)
    assert config is not None
    [warning] = [i for i in issues if i.field == "channels.analysts-email.url"]
    assert warning.level == "warning" and "HLIDKA_SMTP_PASSWORD" in warning.message


def test_expand_env_never_echoes_values() -> None:
    assert expand_env("smtp://${U}:${P:-x}@h", {"U": "me"}) == "smtp://me:x@h"
    with pytest.raises(MissingEnvironment) as caught:
        expand_env("${SECRET}", {})
    assert "SECRET" in str(caught.value)


@pytest.mark.parametrize(("written", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (45, 45)])
def test_durations(written: object, seconds: int) -> None:
    assert parse_duration(written) == timedelta(seconds=seconds)


def test_bad_duration_is_reported(config_dir: Path) -> None:
    sources = config_dir / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8").replace("interval: 15m", "interval: soon", 1), encoding="utf-8")
    config, issues = check_config(config_dir)
    assert config is None
    [issue] = [i for i in issues if i.level == "error"]
    assert issue.field.startswith("sources[0].interval") and "duration" in issue.message


def test_lint_warnings_name_the_file_and_line_of_the_term(config_dir: Path) -> None:
    (config_dir / "watchlists" / "music.yaml").write_text(
        "id: music\nany:\n  cs:\n    - soul*\n    - \"–\"\n", encoding="utf-8")
    result = run_cli("check", "--config", str(config_dir))
    assert result.returncode == 0, "warnings do not fail the check"
    assert "music.yaml:4: warning: music: any: 'soul*' is a prefix of fewer than 5 letters" in result.stdout
    assert "music.yaml:5: warning: music: any: '–' normalises to nothing" in result.stdout
