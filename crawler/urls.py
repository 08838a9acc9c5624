"""One article, one key: canonical URLs.

The seen-URL store and the duplicate check compare canonical URLs, so every
spelling of the same address must map to one string: host case, default
ports, fragments, tracking parameters, query order, percent-encoding, a
trailing slash, and alias hosts (``mocr.army.cz`` serves what
``mocr.mo.gov.cz`` serves).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_ga", "_gl", "ref_src", "cmpid", "ocid", "at_medium", "at_campaign",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str, aliases: Mapping[str, str] | None = None) -> str:
    """The key under which an article is stored.

    ``aliases`` maps a host to the ``scheme://host`` that stands for it
    (``{"mocr.army.cz": "https://mocr.mo.gov.cz"}``), so the same article
    linked as ``http://mocr.army.cz/…`` and ``https://mocr.mo.gov.cz/…`` has
    one key.
    """
    return _canonical(url, tuple(aliases.items()) if aliases else ())


@lru_cache(maxsize=8192)
def _canonical(url: str, aliases: tuple[tuple[str, str], ...]) -> str:
    """Memoised: an article's address is canonicalised three times, nearly always as one string
    (its listing link, the URL it was fetched from, its ``<link rel=canonical>``), and each costs
    ~30 µs of the crawl's reactor thread."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    target_of = dict(aliases)
    if host in target_of:
        target = urlsplit(target_of[host])
        scheme, host, port = target.scheme, target.hostname or host, target.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)])
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    return canonicalize_url(urlunsplit((scheme, netloc, path, query, "")), keep_fragments=False)


def alias_map(start_urls: list[str], alias_hosts: list[str]) -> dict[str, str]:
    """Map each alias host, and the ``www.`` variants, to the source's first start URL's origin."""
    if not start_urls:
        return {}
    origin = urlsplit(start_urls[0])
    primary = (origin.hostname or "").lower()
    target = f"{origin.scheme.lower()}://{origin.netloc.lower()}"
    mapping: dict[str, str] = {}
    for host in [primary, *(a.lower() for a in alias_hosts)]:
        bare = host.removeprefix("www.")
        for variant in (bare, f"www.{bare}"):
            if variant != primary:
                mapping[variant] = target
    return mapping


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
