"""The fixture web: three small news sites served from memory on a loopback HTTP server.

Hlídka's tests and ``hlidka demo`` crawl these instead of the internet: a Czech
Ministry of Defence-like site with a paginated listing, a Czech news portal with
an RSS feed (in windows-1250, as older Czech portals are) and a Ukrainian portal.
Four articles are built from the real texts in ``seeds/originals``; the rest are
fillers. See ``seeds/site.yaml`` for the content. Every site also has XML sitemaps
(``sitemap.xml``: an index, a news sitemap and an archive).

Under ``/lab/`` are the awkward corners a crawler meets on real news sites — PDF
press releases, legacy charsets, alias host names, throttling, slow and huge
pages, foreign redirects, an endless calendar: see :mod:`hlidka.fixtureweb.lab`
and :func:`lab_sources`.
"""

from hlidka.fixtureweb.content import load_sites
from hlidka.fixtureweb.model import Article, Site, Teaser
from hlidka.fixtureweb.server import FixtureWeb, Hit
from hlidka.fixtureweb.sources import LAB_HOSTS, fixture_sources, lab_sources, write_fixture_config

__all__ = ["LAB_HOSTS", "Article", "FixtureWeb", "Hit", "Site", "Teaser", "fixture_sources", "lab_sources", "load_sites",
           "write_fixture_config"]
