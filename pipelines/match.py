"""Item pipeline: which watchlists does the article satisfy, and why."""

from __future__ import annotations

from typing import Any

from config import Config
from crawler.items import ArticlePage
from pipelines.matching import Matcher


class MatchPipeline:
    """Matches the extracted title and main text (never the page chrome) against all watchlists.

    The matcher is compiled once per crawl from the configuration the crawl was
    started with, which is the last valid one the service knows.
    """

    def __init__(self, crawler: Any):
        config: Config = crawler.settings["HLIDKA_CONFIG"]
        self.matcher = Matcher(config.watchlists)
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> MatchPipeline:
        return cls(crawler)

    def process_item(self, item: ArticlePage) -> ArticlePage:
        extracted = item.extracted
        assert extracted is not None, "MatchPipeline runs after ExtractPipeline"
        item.matches = self.matcher.match(title=extracted.title, text=extracted.text, language=extracted.language)
        if item.matches:
            self.crawler.stats.inc_value("hlidka/articles_matched")
        return item
