"""The user's configuration: ``settings.yaml``, ``sources.yaml`` and ``watchlists/*.yaml``.

``load_config`` returns a fully validated, immutable :class:`Config` or raises
:class:`ConfigError` listing every problem at once; ``check_config`` returns
the problems (errors and warnings) for ``hlidka check``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.loader import (
    ConfigError,
    ConfigIssue,
    MissingEnvironment,
    env_references,
    expand_env,
    load_settings,
    load_sources,
    load_watchlist_file,
    watchlist_files,
)
from config.schema import Settings, Source, Watchlist

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "MissingEnvironment",
    "Settings",
    "Source",
    "Watchlist",
    "check_config",
    "expand_env",
    "load_config",
]

DEFAULT_CONFIG_DIR = Path("config")

#: Extra checks on watchlists (e.g. terms that can never match) plugged in by the matcher,
#: so that this package does not depend on the matching engine.
WatchlistLinter = Callable[[Watchlist], list[str]]


@dataclass(frozen=True)
class Config:
    directory: Path
    settings: Settings
    sources: tuple[Source, ...]
    watchlists: tuple[Watchlist, ...]
    warnings: tuple[ConfigIssue, ...] = field(default=())

    @property
    def database_url(self) -> str:
        """The database URL with ``${ENV}`` expanded and a relative SQLite path made absolute.

        A relative SQLite path is taken from the folder that holds the config
        directory, so ``hlidka --config /srv/hlidka/config`` keeps its data in
        ``/srv/hlidka/data`` whatever the working directory of the service.
        """
        url = expand_env(self.settings.database)
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            path = (self.directory.resolve().parent / url[len(prefix):]).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            url = prefix + str(path)
        return url

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    def channels_for(self, watchlist: Watchlist) -> list[str]:
        return list(watchlist.alert.channels or self.settings.default_channels)


def _load_all_watchlists(directory: Path, issues: list[ConfigIssue]) -> tuple[list[Watchlist], dict[str, Path]]:
    """Every valid watchlist, and the file each came from (for messages about it)."""
    loaded: list[Watchlist] = []
    where: dict[str, Path] = {}
    for path in watchlist_files(directory):
        try:
            for watchlist in load_watchlist_file(path):
                if watchlist.id in where:
                    issues.append(ConfigIssue(path, None, "id", f"watchlist id '{watchlist.id}' is also used in {where[watchlist.id]}"))
                    continue
                where[watchlist.id] = path
                loaded.append(watchlist)
        except ConfigError as exc:
            issues.extend(exc.issues)
    return loaded, where


_QUOTED = re.compile(r"'([^']+)'")


def _line_mentioning(path: Path, message: str) -> int | None:
    """The first line of ``path`` holding the term a lint message quotes: where to look."""
    quoted = _QUOTED.search(message)
    if not quoted:
        return None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if quoted.group(1) in line.split("#", 1)[0]:
            return number
    return None


def _cross_checks(directory: Path, settings: Settings, watchlists: list[Watchlist], issues: list[ConfigIssue]) -> None:
    settings_path = directory / "settings.yaml"
    for name in settings.default_channels:
        if name not in settings.channels:
            issues.append(ConfigIssue(settings_path, None, "default_channels", f"unknown channel '{name}'"))
    for name, channel in settings.channels.items():
        missing = [v for v in env_references(channel.url) if v not in os.environ]
        if missing:
            issues.append(ConfigIssue(
                settings_path, None, f"channels.{name}.url",
                f"needs environment variable(s) {', '.join(missing)}; alerts for it wait in the queue until set",
                level="warning",
            ))
    for watchlist in watchlists:
        for name in watchlist.alert.channels:
            if name not in settings.channels:
                issues.append(ConfigIssue(
                    directory / "watchlists", None, f"{watchlist.id}.alert.channels",
                    f"unknown channel '{name}' (defined: {', '.join(sorted(settings.channels)) or 'none'})",
                ))


def check_config(directory: Path, linters: tuple[WatchlistLinter, ...] = ()) -> tuple[Config | None, list[ConfigIssue]]:
    """Validate everything and return the config (None if unusable) with all issues found."""
    issues: list[ConfigIssue] = []
    if not directory.is_dir():
        return None, [ConfigIssue(directory, None, "", "configuration directory not found")]
    settings, sources = None, None
    try:
        settings = load_settings(directory / "settings.yaml")
    except ConfigError as exc:
        issues.extend(exc.issues)
    sources_path = directory / "sources.yaml"
    if sources_path.exists():
        try:
            sources = load_sources(sources_path).sources
        except ConfigError as exc:
            issues.extend(exc.issues)
    else:
        issues.append(ConfigIssue(sources_path, None, "", "file not found"))
    watchlists, files = _load_all_watchlists(directory / "watchlists", issues)
    if settings is not None:
        _cross_checks(directory, settings, watchlists, issues)
    for watchlist in watchlists:
        path = files[watchlist.id]
        for message in (m for lint in linters for m in lint(watchlist)):
            issues.append(ConfigIssue(path, _line_mentioning(path, message), watchlist.id, message, level="warning"))
    if settings is None or sources is None or any(i.level == "error" for i in issues):
        return None, issues
    config = Config(directory, settings, tuple(sources), tuple(watchlists),
                    tuple(i for i in issues if i.level == "warning"))
    return config, issues


def load_config(directory: Path = DEFAULT_CONFIG_DIR, linters: tuple[WatchlistLinter, ...] = ()) -> Config:
    config, issues = check_config(directory, linters)
    if config is None:
        raise ConfigError(issues)
    return config
