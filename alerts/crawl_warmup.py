"""Imported once by the crawl template process: everything a crawl needs, loaded before any fork.

A crawl child that imports Scrapy, trafilatura and the matcher and loads the
lemma dictionaries itself spends ~6 CPU-seconds before its first request.
The service's template process (multiprocessing's fork server) imports this
module once; every crawl child is forked from it with all of that in memory.

Nothing here may start a thread, open a connection or install the Twisted
reactor: each child installs its own reactor after the fork.
"""

from scrapy.utils.misc import load_object

import crawler.run  # noqa: F401
import crawler.settings as project
import crawler.spiders.sources  # noqa: F401
from pipelines.matching import lint_watchlist  # noqa: F401
from pipelines.matching.lemmas import warm_up


def _import_components() -> None:
    """Every pipeline, extension and middleware the project settings name, whoever added them."""
    for setting in ("ITEM_PIPELINES", "EXTENSIONS", "DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES"):
        for path in getattr(project, setting, {}) or {}:
            if isinstance(path, str):
                load_object(path)


_import_components()
warm_up()
