"""Downloader middlewares that make a revisit cheap, polite and bounded.

- :class:`ConditionalRequestMiddleware` sends the validators of the last run
  (If-None-Match / If-Modified-Since) so an unchanged listing costs a 304.
- :class:`RequestBudgetMiddleware` caps the requests of one run: the last line
  of defence against calendars and other spider traps.
- :class:`PoliteRetryMiddleware` retries timeouts and 5xx/429 answers with an
  exponential backoff, and honours ``Retry-After`` for the whole site.
- :class:`OffsiteRedirectMiddleware` refuses redirects off the source's hosts, visibly.
- :class:`CharsetMiddleware` corrects a Content-Type charset that the body
  contradicts (UTF-8 pages served as windows-1250 and vice versa).
- :class:`HeadMetaRefreshMiddleware` follows meta-refresh redirects without
  decoding the whole page.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from time import monotonic
from typing import Any
from urllib.parse import urljoin

from scrapy import Request, signals
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from scrapy.utils.url import url_is_from_any_domain
from w3lib.encoding import http_content_type_encoding
from w3lib.url import safe_url_string

from crawler.revalidation import Chain, Validators, load_validators, save_validators, settled
from hlidka.db import shared_database
from pipelines.charset import decode_by_evidence

logger = logging.getLogger(__name__)

#: Request meta: the :class:`~crawler.revalidation.Chain` of a request whose validators are kept.
REVALIDATE = "hlidka_chain"
#: Response meta set by :class:`ConditionalRequestMiddleware`: the stored validators a 304 confirmed,
#: or the fresh ones of a 200 (which the spider may extend with ``follow``).
VALIDATORS = "hlidka_validators"
#: Request meta: what the spider asked for, "listing" or "article" (article pages are decoded by the worker).
ROLE = "hlidka_role"
#: Request meta: do not send this request before this ``time.monotonic()`` value (a backoff).
NOT_BEFORE = "hlidka_not_before"
#: What :class:`HeadMetaRefreshMiddleware` reads: 4,096 characters of any encoding.
_HEAD_BYTES = 16 * 1024


class ConditionalRequestMiddleware:
    """Revalidates requests that carry a chain in ``meta[REVALIDATE]``; stores validators at the end."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        self.known: dict[str, Validators] = {}
        self.fresh: dict[str, Validators] = {}
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ConditionalRequestMiddleware:
        return cls(crawler)

    def spider_opened(self, spider: Any) -> None:
        self.known = load_validators(self.database, spider.source_id)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if reason != "finished":
            return  # an interrupted run proves nothing about what it did not reach
        keep = settled(self.fresh)
        save_validators(self.database, spider.source_id, keep)
        self.crawler.stats.set_value("hlidka/validators_saved", len(keep))

    def process_request(self, request: Request) -> None:
        if REVALIDATE not in request.meta:
            return
        codes = request.meta.get("handle_httpstatus_list", [])
        if 304 not in codes:
            request.meta["handle_httpstatus_list"] = [*codes, 304]
        known = self.known.get(request.url)
        if known is None:
            return
        if known.etag:
            request.headers.setdefault(b"If-None-Match", known.etag)
        if known.last_modified:
            request.headers.setdefault(b"If-Modified-Since", known.last_modified)

    def process_response(self, request: Request, response: Response) -> Response:
        chain: Chain | None = request.meta.get(REVALIDATE)
        if chain is None:
            return response
        if response.status == 304:
            self.crawler.stats.inc_value("hlidka/not_modified")
            request.meta[VALIDATORS] = self.known.get(request.url) or Validators(None, None)
        elif response.status == 200:
            fresh = Validators(_header(response, b"ETag"), _header(response, b"Last-Modified"), chain=chain)
            request.meta[VALIDATORS] = fresh
            if fresh.usable:
                self.fresh[request.url] = fresh
        return response


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() or None if value else None


class BudgetSpent(IgnoreRequest):
    """The run's request budget is spent: the request may well succeed in the next run."""


class RequestBudgetMiddleware:
    """Refuses requests beyond ``HLIDKA_MAX_REQUESTS`` in one run (robots.txt, retries and redirects count)."""

    def __init__(self, crawler: Any, limit: int):
        self.crawler = crawler
        self.limit = limit
        self.sent = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> RequestBudgetMiddleware:
        limit = crawler.settings.getint("HLIDKA_MAX_REQUESTS")
        if limit <= 0:
            raise NotConfigured
        return cls(crawler, limit)

    def process_request(self, request: Request) -> None:
        if self.sent < self.limit:
            self.sent += 1
            return
        if not self.crawler.stats.get_value("hlidka/budget_refused"):
            logger.warning("request budget of %d per run spent: %s and later requests not sent "
                           "(a spider trap, or raise max_requests)", self.limit, request.url)
        self.crawler.stats.inc_value("hlidka/budget_refused")
        raise BudgetSpent(f"request budget of {self.limit} per run spent")


class OffsiteRedirect(IgnoreRequest):
    """The page redirects to a host that is not the source's: the article is not where the listing says."""


class OffsiteRedirectMiddleware:
    """Stops a redirect to another site before it is followed, and says so.

    Scrapy's offsite filter would drop the redirected request silently; here
    the request fails with :class:`OffsiteRedirect`, so the spider can record
    why the article was not fetched instead of retrying it on every revisit.
    Runs before RedirectMiddleware (a higher order: responses go from high to low).
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> OffsiteRedirectMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if response.status not in (301, 302, 303, 307, 308) or not location or request.meta.get("dont_redirect"):
            return response
        target = urljoin(request.url, safe_url_string(location.decode("latin-1")))
        domains = getattr(self.crawler.spider, "allowed_domains", None)
        if domains and not url_is_from_any_domain(target, domains):
            self.crawler.stats.inc_value("hlidka/offsite_redirects")
            raise OffsiteRedirect(f"redirects off the source's hosts, to {target}")
        return response


class PoliteRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, spaced out: exponential backoff with jitter, and ``Retry-After`` obeyed.

    A ``Retry-After`` on a 429 or 503 pauses every request to that site (its
    download slot), not just the one retried: the server said the client is
    too fast. One longer than ``HLIDKA_MAX_RETRY_AFTER`` is not waited out
    within this run; the page fails and the next revisit tries again.
    """

    def __init__(self, settings: Any):
        super().__init__(settings)
        self.backoff = settings.getfloat("HLIDKA_RETRY_BACKOFF", 2.0)
        self.max_retry_after = settings.getfloat("HLIDKA_MAX_RETRY_AFTER", 120.0)
        self.paused_until: dict[str, float] = {}

    async def process_request(self, request: Request) -> None:
        not_before = max(request.meta.get(NOT_BEFORE, 0.0), self.paused_until.get(_slot(request), 0.0))
        wait = not_before - monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after = _retry_after(response) if response.status in (429, 503) else None
        if retry_after is not None and retry_after > self.max_retry_after:
            logger.warning("%s answered %d asking to wait %.0f s (Retry-After), longer than max_retry_after "
                           "(%.0f s): left for the next run", request.url, response.status, retry_after,
                           self.max_retry_after)
            self.crawler.stats.inc_value("hlidka/retry_after_too_long")
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        if retry_after is not None:
            slot = _slot(request)
            self.paused_until[slot] = max(self.paused_until.get(slot, 0.0), monotonic() + retry_after)
            self.crawler.stats.inc_value("hlidka/retry_after_honoured")
            self._delay(retry, retry_after)
        else:
            self._delay(retry, self._backoff(retry))
        return retry

    def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        retry = super().process_exception(request, exception)
        if isinstance(retry, Request):
            self._delay(retry, self._backoff(retry))
        return retry

    def _backoff(self, retry: Request) -> float:
        attempt = retry.meta.get("retry_times", 1)
        return self.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto

    @staticmethod
    def _delay(retry: Request, seconds: float) -> None:
        retry.meta[NOT_BEFORE] = monotonic() + seconds


def _slot(request: Request) -> str:
    return request.meta.get("download_slot") or urlparse_cached(request).hostname or ""


def _retry_after(response: Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` of delta-seconds or an HTTP date; None if absent or unreadable."""
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class CharsetMiddleware:
    """Decode a listing, feed or sitemap by the body's evidence when it contradicts the Content-Type charset.

    The rule is :func:`~pipelines.charset.decode_by_evidence`. Article pages
    pass through untouched: the extraction worker applies the same rule to
    their bytes, so the reactor thread never decodes a ~100 KB page only to
    check it (~0.1 ms of its CPU per article).
    """

    @classmethod
    def from_crawler(cls, crawler: Any) -> CharsetMiddleware:
        return cls()

    def process_response(self, request: Request, response: Response) -> Response:
        if not isinstance(response, TextResponse) or request.meta.get(ROLE) == "article":
            return response
        header = header_charset(response)
        if header is None:
            return response  # no header to contradict: Scrapy already used BOM, <meta> or detection
        if header == "utf-8" and "\ufffd" not in response.text:
            # Scrapy's text has no replacement character, so the body is valid UTF-8 and the rule keeps
            # the header: asking it would decode the page a second time, and Scrapy's text stays cached
            # for the spider that parses it next.
            return response
        codec, _ = decode_by_evidence(response.body, response.encoding, header)
        return response if codec == response.encoding else response.replace(encoding=codec)


def header_charset(response: Response) -> str | None:
    """The charset of the Content-Type header, as Scrapy resolves it; None when it names none."""
    return http_content_type_encoding(response.headers.get(b"Content-Type", b"").decode("latin-1"))


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's ``<meta http-equiv=refresh>`` redirects, looked for in the page's head only.

    Scrapy's own reads the first 4,096 characters of ``response.text``, which
    decodes the whole page first, and then runs two regular expressions over
    them (the base URL, the refresh tag) on every page. This one skips a page
    whose first 16 KB (4,096 characters in any encoding) do not contain the
    word at all, and hands Scrapy's a copy cut to those 16 KB otherwise.
    """

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if not isinstance(response, TextResponse):
            return super().process_response(request, response)
        head_bytes = response.body[:_HEAD_BYTES]
        if b"refresh" not in head_bytes.lower() and _ascii_compatible(response.encoding):
            return response
        if len(response.body) <= _HEAD_BYTES:
            return super().process_response(request, response)
        head = response.replace(body=head_bytes, encoding=response.encoding)
        outcome = super().process_response(request, head)
        return response if outcome is head else outcome


@lru_cache(maxsize=64)
def _ascii_compatible(encoding: str) -> bool:
    """True when ASCII letters are ASCII bytes in this encoding (not UTF-16 or UTF-32)."""
    return "a refresh".encode(encoding, errors="ignore") == b"a refresh"
