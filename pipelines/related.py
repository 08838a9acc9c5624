"""Cut extracted text where a related-news, teaser or footer block begins.

trafilatura drops most page chrome, but keeps a "related articles" list when it
sits inside the article element under a class name it does not know. Those
teasers name other stories (NATO, Korea…) and would raise false alerts, so
the extracted text is cut at the first line that is only such a heading.
Only whole short lines count: a sentence that merely contains "read more" is
article text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RELATED_MARKERS: tuple[str, ...] = (
    # Czech
    "Související články", "Související zprávy", "Související", "Mohlo by vás zajímat", "Mohlo by vás také zajímat",
    "Další zprávy", "Další články", "Další zprávy z rubriky *", "Čtěte také", "Čtěte též", "Přečtěte si také",
    "Doporučujeme", "Nejčtenější", "Nejnovější zprávy", "Témata článku",
    # Ukrainian
    "Інші новини", "Читайте також", "Читайте більше", "Новини за темою", "Схожі новини", "Останні новини",
    "Популярні новини", "Найпопулярніше", "Вас може зацікавити", "Більше новин *",
    # English
    "Related articles", "Related stories", "Related news", "Related content", "Related", "Read more", "Read next",
    "More from *", "More stories", "More on this story", "You may also like", "Most read", "Most popular",
    "Recommended", "Average Rating",
)
"""Headings that open a block of links to other stories. A trailing ``*`` (as in watchlists) also
accepts a continuation: ``More from *`` cuts at "More from Reuters"; without it the line must
be exactly the marker, so a subheading like "Doporučujeme očkování" stays article text."""

#: A line longer than this is text, not a block heading.
MAX_MARKER_LINE = 40
_EDGE = re.compile(r"^[\s\-–—•*#>»›|]+|[\s:.…>»›|]+$")


def _normalise(line: str) -> str:
    return " ".join(_EDGE.sub("", line).split()).casefold()


def _compile(markers: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact, prefixes = set(), []
    for marker in markers:
        if marker.rstrip().endswith("*"):
            prefixes.append(_normalise(marker.rstrip().rstrip("*")) + " ")
        else:
            exact.add(_normalise(marker))
    return frozenset(exact), tuple(prefixes)


def cut_at_related(text: str, markers: Iterable[str] = RELATED_MARKERS) -> str:
    """``text`` up to (not including) the first line that is a marker heading.

    A marker before any text is a link in the page header ("Read next" above the
    headline), not the end of the article: that line alone is dropped.
    """
    exact, prefixes = _compile(markers)
    kept: list[str] = []
    for line in text.split("\n"):
        if len(line.strip()) <= MAX_MARKER_LINE:
            norm = _normalise(line)
            if norm in exact or norm.startswith(prefixes):
                if any(k.strip() for k in kept):
                    break
                continue
        kept.append(line)
    return "\n".join(kept).rstrip()
