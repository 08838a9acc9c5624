"""Pinning host names to addresses for the crawl, as ``curl --resolve`` does.

Installed through Scrapy's ``TWISTED_DNS_RESOLVER`` setting. A pinned name is
answered from ``settings.yaml``'s ``crawl.resolve`` map; every other name goes
to the system resolver as usual. It lets a source keep its real host names
(which matter: alias hosts, canonical URLs, offsite checks, robots.txt) while
pointing at a staging server, or at the loopback fixture web in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.base import ReactorBase

from scrapy.resolver import CachingThreadedResolver


class PinnedHostsResolver(CachingThreadedResolver):
    def __init__(self, reactor: ReactorBase, cache_size: int, timeout: float, pinned: Mapping[str, str]):
        super().__init__(reactor, cache_size, timeout)
        self.pinned = {host.lower().rstrip("."): address for host, address in pinned.items()}

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: ReactorBase) -> PinnedHostsResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), settings.getdict("HLIDKA_RESOLVE"))

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        address = self.pinned.get(name.lower().rstrip("."))
        if address is not None:
            return defer.succeed(address)
        return super().getHostByName(name, timeout)
