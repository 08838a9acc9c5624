"""The piece of an article an alert quotes: where the hits are densest, on one line.

Alerts go to mail, chat and MQTT, where line breaks from the extracted text
only get in the way, so whitespace is collapsed; the hit spans are returned
relative to the snippet so each renderer can highlight them its own way.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.matching.matcher import Hit

ELLIPSIS = "…"
_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Snippet:
    """``text`` plus the hit spans inside it (offsets into ``text``, ellipsis included)."""

    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)


class _Collapsed:
    """``text`` with whitespace runs collapsed to one space, and a map from old offsets to new."""

    def __init__(self, text: str) -> None:
        words = list(_NON_SPACE.finditer(text))
        self.text = " ".join(m.group() for m in words)
        self._starts = [m.start() for m in words]
        self._new_starts: list[int] = []
        self._lengths = [m.end() - m.start() for m in words]
        position = 0
        for length in self._lengths:
            self._new_starts.append(position)
            position += length + 1

    def offset(self, old: int) -> int:
        """Where an offset into the original text lands (inside a whitespace run: after its word)."""
        i = bisect_right(self._starts, old) - 1
        if i < 0:
            return 0
        return self._new_starts[i] + min(old - self._starts[i], self._lengths[i])


def make_snippet(text: str, hits: Sequence[Hit], width: int = 240) -> Snippet:
    """About ``width`` characters of ``text`` around the densest cluster of text hits.

    Cuts fall between words and are marked with "…". With no text hits (e.g.
    the title alone matched) the snippet is the start of the text.
    """
    collapsed = _Collapsed(text)
    spans = sorted((collapsed.offset(h.start), collapsed.offset(h.end)) for h in hits if h.field == "text")
    start, end = _window(spans, width, len(collapsed.text))
    start, end = _snap_to_words(collapsed.text, start, end, spans)
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(collapsed.text) else ""
    shift = len(prefix) - start
    inside = [(s + shift, e + shift) for s, e in spans if s >= start and e <= end]
    return Snippet(prefix + collapsed.text[start:end] + suffix, inside)


def _window(spans: list[tuple[int, int]], width: int, length: int) -> tuple[int, int]:
    """The ``width``-wide window that contains the most whole hits, centred on them."""
    if not spans:
        return 0, min(width, length)
    best_first, best_last, best_count = 0, 0, 0
    last = 0
    for first, (start, _) in enumerate(spans):
        last = max(last, first)
        while last + 1 < len(spans) and spans[last + 1][1] - start <= width:
            last += 1
        if last - first + 1 > best_count:
            best_first, best_last, best_count = first, last, last - first + 1
    cluster_start = spans[best_first][0]
    cluster_end = max(e for _, e in spans[best_first:best_last + 1])
    size = max(width, cluster_end - cluster_start)
    start = max(0, cluster_start - (size - (cluster_end - cluster_start)) // 2)
    end = min(length, start + size)
    return max(0, end - size), end


def _snap_to_words(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """Move cuts out of the middle of words, never past a hit that is inside the window."""
    inside = [(s, e) for s, e in spans if s >= start and e <= end]
    first_hit = min((s for s, _ in inside), default=end)
    last_hit = max((e for _, e in inside), default=start)
    if start > 0 and text[start - 1] != " ":
        space = text.find(" ", start, first_hit)
        if space != -1:
            start = space + 1
    if end < len(text) and text[end] != " ":
        space = text.rfind(" ", last_hit, end)
        if space != -1:
            end = space
    while start < end and text[start] == " ":
        start += 1
    while end > start and text[end - 1] == " ":
        end -= 1
    return start, end
