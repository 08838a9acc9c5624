"""The fixture web: three small news sites served from memory on a loopback HTTP server.

Hlídka's tests and ``hlidka demo`` crawl these instead of the internet: a Czech
Ministry of Defence-like site with a paginated listing, a Czech news portal with
an RSS feed (in windows-1250, as older Czech portals are) and a Ukrainian portal.
Four articles are built from the real texts in ``seeds/originals``; the rest are
fillers. See ``seeds/site.yaml`` for the content.
"""

from hlidka.fixtureweb.content import load_sites
from hlidka.fixtureweb.model import Article, Site, Teaser
from hlidka.fixtureweb.server import FixtureWeb
from hlidka.fixtureweb.sources import fixture_sources, write_fixture_config

__all__ = ["Article", "FixtureWeb", "Site", "Teaser", "fixture_sources", "load_sites", "write_fixture_config"]
