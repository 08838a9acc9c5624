"""Scrapy settings for Hlídka's crawler.

These are the defaults of the Scrapy project; :func:`crawler.run.crawl_settings`
overlays what the user set in ``settings.yaml`` (User-Agent, timeouts, size
limit, politeness) before a crawl starts.
"""

BOT_NAME = "hlidka"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "Hlidka/0.1 (+https://github.com/hlidka/hlidka; news monitoring)"

# Politeness: a monitor revisits the same sites for months, so it must stay welcome.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 opens a remote-control HTTP port per crawl by default: not on a monitoring server.
REMOTE_CONTROL_ENABLED = False

# Measured on this machine: the default of 100 costs ~40% of the crawl's CPU in
# Scrapy 2.19 while our callbacks yield one item or a few requests per response.
CONCURRENT_ITEMS = 10
# A development lint that parses the callback's source with ``ast`` on every response (its cache
# misses for bound methods): ~1 % of the crawl's CPU. tests/test_crawl_parts.py checks once instead.
WARN_ON_GENERATOR_RETURN_VALUE = False

ITEM_PIPELINES = {
    "pipelines.extract.ExtractPipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.match.MatchPipeline": 300,
    "pipelines.store.StorePipeline": 400,
}
# StorePipeline writes this many pages per transaction, or what it has this many seconds after the
# first page of a batch arrived: one transaction per page cost more CPU in the reactor thread than
# the rows did (bench/crawl.py).
HLIDKA_STORE_BATCH_SIZE = 50
HLIDKA_STORE_BATCH_WAIT = 0.2

DOWNLOADER_MIDDLEWARES = {
    # After robots.txt (a refused request costs nothing), before everything that sends.
    "crawler.middlewares.RequestBudgetMiddleware": 110,
    "crawler.middlewares.ConditionalRequestMiddleware": 120,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.PoliteRetryMiddleware": 550,
    "crawler.middlewares.OffsiteRedirectMiddleware": 610,
    # Between decompression (590) and the meta-refresh check (580), which reads the text.
    "crawler.middlewares.CharsetMiddleware": 585,
    # Scrapy's decodes a whole page to look at its first 4,096 characters.
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.HeadMetaRefreshMiddleware": 580,
}

# Host names pinned to addresses (settings.yaml crawl.resolve); others go to the system resolver.
TWISTED_DNS_RESOLVER = "crawler.resolver.PinnedHostsResolver"

EXTENSIONS = {
    "crawler.extensions.CrawlRunRecorder": 500,
}

LOG_LEVEL = "INFO"
LOG_VERSIONS: list[str] = []  # the versions dump on every crawl floods the service log
STATS_DUMP = False  # each run's figures are recorded in crawl_runs instead
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
