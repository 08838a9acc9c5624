"""Read the configuration directory and report every mistake with file, line and field.

YAML is parsed twice from the same text: once into plain data for pydantic and
once into nodes, whose marks give the line of every key and list item. A
pydantic error location such as ``('any', 3, 'term')`` is looked up in that
index, so the user reads ``korea.yaml:14: any.cs[1].term: …`` instead of a
traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.schema import Settings, SourcesFile, Watchlist

_GROUPED_TERM_KEYS = {"any", "weak", "none", "ignore"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one file; ``level`` is ``error`` (refused) or ``warning`` (accepted)."""

    path: Path
    line: int | None
    field: str
    message: str
    level: str = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {self.level}: {what}{self.message}"


class ConfigError(Exception):
    """Raised when a configuration cannot be used; carries every issue found, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue]):
        self.issues = [i for i in issues if i.level == "error"]
        super().__init__("\n".join(str(i) for i in self.issues))


class MissingEnvironment(Exception):
    """A ``${VAR}`` placeholder names a variable that is not set (the value is never shown)."""


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; secrets stay out of the YAML files."""
    env = os.environ if environ is None else environ

    def substitute(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise MissingEnvironment(f"environment variable {name} is not set")

    return _ENV_REF.sub(substitute, text)


def env_references(text: str) -> list[str]:
    """Names of the variables a value needs that have no default."""
    return [m.group(1) for m in _ENV_REF.finditer(text) if m.group(2) is None]


# --------------------------------------------------------------------------- YAML with lines


def _index_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out)
            if isinstance(value_node, yaml.MappingNode) and key in _GROUPED_TERM_KEYS:
                _index_flattened(value_node, path + (key,), out)
            if key == "all" and isinstance(value_node, yaml.SequenceNode):
                for g, group in enumerate(value_node.value):
                    if isinstance(group, yaml.MappingNode):
                        _index_flattened(group, path + (key, g), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out)


def _index_flattened(node: yaml.MappingNode, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Term lists grouped by language are flattened by the schema; index them the same way."""
    flat = 0
    for _lang, items in node.value:
        if isinstance(items, yaml.SequenceNode):
            for item in items.value:
                _index_lines(item, path + (flat,), out)
                flat += 1


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def read_yaml(path: Path) -> YamlDocument:
    """Parse one file; a YAML syntax error becomes a ConfigError with its line."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigIssue(path, line, "", f"YAML syntax: {exc.problem or exc}")]) from None
    doc = YamlDocument(path, data)
    if node is not None:
        _index_lines(node, (), doc.lines)
    return doc


def _field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif not str(part).startswith("function-"):
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def validate(doc: YamlDocument, model: type[BaseModel], data: Any = None, base: tuple[Any, ...] = ()) -> Any:
    """Validate ``data`` (default: the whole document) against ``model``, raising ConfigError."""
    payload = doc.data if data is None else data
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = base + tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (typo?)"
            issues.append(ConfigIssue(doc.path, doc.line_of(loc), _field_name(loc), message))
        raise ConfigError(issues) from None


# --------------------------------------------------------------------------- the three kinds of file


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    doc = read_yaml(path)
    return validate(doc, Settings, doc.data or {})


def load_sources(path: Path) -> SourcesFile:
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue(path, 1, "sources", "expected a mapping with a 'sources' list")])
    return validate(doc, SourcesFile)


def load_watchlist_file(path: Path) -> list[Watchlist]:
    """A file holds one watchlist (its id defaults to the file name) or a ``watchlists:`` list."""
    doc = read_yaml(path)
    data = doc.data
    if isinstance(data, dict) and set(data) == {"watchlists"} and isinstance(data["watchlists"], list):
        items = [(item, ("watchlists", i)) for i, item in enumerate(data["watchlists"])]
    elif isinstance(data, dict):
        items = [({"id": path.stem, **data}, ())]
    else:
        raise ConfigError([ConfigIssue(path, 1, "", "expected a watchlist (a mapping of keys such as id, any, alert)")])
    watchlists, issues = [], []
    for item, base in items:
        try:
            watchlists.append(validate(doc, Watchlist, item, base))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return watchlists


def watchlist_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
