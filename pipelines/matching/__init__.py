"""Watchlist matching: which analysts' watchlists does a new article satisfy, and why.

``Matcher`` compiles every enabled watchlist once into hash indexes over
normalised tokens; ``match`` then costs about the same per article whether the
watchlists hold ten terms or ten thousand. ``make_snippet`` picks the quote an
alert shows and ``lint_watchlist`` warns about terms that will misbehave.
"""

from pipelines.matching.lint import lint_watchlist
from pipelines.matching.matcher import Hit, Matcher, MatchResult
from pipelines.matching.snippet import Snippet, make_snippet

__all__ = ["Hit", "MatchResult", "Matcher", "Snippet", "lint_watchlist", "make_snippet"]
