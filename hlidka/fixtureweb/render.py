"""HTML pages of the fixture sites, with the chrome real news sites have.

The chrome is deliberately noisy: navigation, a topics bar, breadcrumbs, a
cookie bar, related-news teasers and a footer all name NATO, Korea and the
like on every page. Whatever Hlídka matches must come from the article, so
a page that only *links* to such a topic must not raise an alert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from html import escape

from hlidka.fixtureweb.model import Article, Site, Teaser

_SHARE_LINKS = " ".join(f'<a href="#" class="share-link">{name}</a>' for name in ("Facebook", "X", "E-mail"))

#: Where a listing's article links are, and its "next page" link: what crawler sources select.
LINK_SCOPE_CSS = ".article-list"
NEXT_PAGE_CSS = "nav.pagination a[rel=next]"


def _e(text: str) -> str:
    return escape(text, quote=True)


def _date(site: Site, moment: datetime) -> str:
    return site.labels.date.format(d=moment)


def _links(site: Site, items: Sequence[tuple[str, str]]) -> str:
    return "".join(f'<li><a href="{_e(site.path(href))}">{_e(label)}</a></li>' for label, href in items)


def _page(site: Site, base_url: str, *, title: str, language: str, head: str, crumbs: Sequence[tuple[str, str | None]],
          main: str, body_class: str) -> str:
    labels = site.labels
    crumb_html = "".join(
        f'<li><a href="{_e(href)}">{_e(label)}</a></li>' if href else f'<li aria-current="page">{_e(label)}</li>'
        for label, href in crumbs
    )
    feed_link = ""
    if site.feed_path:
        feed_link = (f'<link rel="alternate" type="application/rss+xml" title="{_e(site.short_name)}" '
                     f'href="{_e(base_url + site.feed_path)}">')
    footer = "".join(f"<p>{_e(line)}</p>" for line in site.footer)
    return f"""<!DOCTYPE html>
<html lang="{_e(language)}">
<head>
<meta charset="{_e(site.encoding)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
{feed_link}
{head}
</head>
<body class="{body_class}">
<a class="skip-link" href="#content">{_e(labels.skip)}</a>
<div class="cookie-bar" role="dialog" aria-live="polite">
<p>{_e(labels.cookies)}</p>
<button type="button" class="cookie-accept">{_e(labels.cookies_ok)}</button>
</div>
<header class="site-header">
<a class="logo" href="{_e(site.prefix)}">{_e(site.short_name)}</a>
<nav class="main-nav" aria-label="{_e(labels.menu)}"><ul>{_links(site, site.nav)}</ul></nav>
<div class="topics"><span>{_e(labels.topics)}:</span><ul>{_links(site, site.topics)}</ul></div>
</header>
<nav class="breadcrumbs" aria-label="{_e(labels.breadcrumbs)}"><ol>{crumb_html}</ol></nav>
{main}
<footer class="site-footer">
<nav class="footer-nav"><ul>{_links(site, site.nav)}<li><a href="/private/intranet">Intranet</a></li></ul></nav>
{footer}
</footer>
</body>
</html>
"""


def _related(site: Site, teasers: Sequence[Teaser], others: Sequence[tuple[Article, str]]) -> str:
    """The related-news block; its element depends on where the site puts it.

    Inside <article> it carries a CMS-specific class (``souvisejici``) rather than
    ``related``: trafilatura drops blocks whose class says "related", and real
    sites do not always say so.
    """
    items = [(t.title, t.summary, site.archive_path(t)) for t in teasers]
    items += [(a.title, a.summary, path) for a, path in others]
    lis = "".join(
        f'<li><a href="{_e(href)}"><h3>{_e(title)}</h3></a><p>{_e(summary)}</p></li>' for title, summary, href in items
    )
    heading = _e(site.labels.related)
    if site.related == "aside":
        return f'<aside class="related" aria-label="{heading}"><h2>{heading}</h2><ul>{lis}</ul></aside>'
    if site.related == "after":
        return (f'<div class="other-news"><div class="other-news-title">{heading}</div>'
                f'<ul class="news-list">{lis}</ul></div>')
    return f'<div class="souvisejici"><h2>{heading}</h2><ul>{lis}</ul></div>'


def article_page(site: Site, article: Article, base_url: str, others: Sequence[tuple[Article, str]]) -> str:
    """One article page; ``others`` are (article, path) of the site's other stories for the related block."""
    url = base_url + site.article_path(article)
    language = article.language or site.language
    published = article.published.isoformat()
    modified = article.modified.isoformat() if article.modified else None
    head = [
        f'<meta name="description" content="{_e(article.summary)}">',
        f'<link rel="canonical" href="{_e(url)}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{_e(site.short_name)}">',
        f'<meta property="og:title" content="{_e(article.title)}">',
        f'<meta property="og:url" content="{_e(url)}">',
        f'<meta property="og:locale" content="{_e(site.locale if language == site.language else language)}">',
        f'<meta property="article:published_time" content="{published}">',
        f'<meta property="article:section" content="{_e(site.labels.section)}">',
    ]
    if article.author:
        head.append(f'<meta name="author" content="{_e(article.author)}">')
    if modified:
        head.append(f'<meta property="article:modified_time" content="{modified}">')
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": article.title,
          "datePublished": published, "mainEntityOfPage": url,
          "publisher": {"@type": "Organization", "name": site.name}}
    if modified:
        ld["dateModified"] = modified
    if article.author:
        ld["author"] = {"@type": "Person", "name": article.author}
    head.append(f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')

    byline = (f'<span class="byline">{_e(site.labels.author)}: <span class="author">{_e(article.author)}</span></span>'
              if article.author else "")
    lead = f'<p class="perex"><strong>{_e(article.lead)}</strong></p>' if article.lead else ""
    paragraphs = "\n".join(f"<p>{_e(p)}</p>" for p in article.paragraphs)
    related = _related(site, article.related + site.teasers, others)
    inside, after = (related, "") if site.related == "inside" else ("", related)
    main = f"""<main id="content" class="content">
<article class="article">
<header class="article-header">
<h1>{_e(article.title)}</h1>
<p class="article-meta"><time datetime="{published}">{_e(_date(site, article.published))}</time> {byline}</p>
</header>
<div class="{_e(site.body_class)}">
{lead}
{paragraphs}
</div>
<div class="share">{_SHARE_LINKS}</div>
{inside}
</article>
{after}
</main>"""
    crumbs = [(site.labels.home, site.prefix), (site.labels.section, site.listing_path()), (article.title, None)]
    return _page(site, base_url, title=f"{article.title} | {site.short_name}", language=language,
                 head="\n".join(head), crumbs=crumbs, main=main, body_class="page-article")


def listing_page(site: Site, base_url: str, page: int, pages: int, entries: Sequence[tuple[Article, str]]) -> str:
    """Page ``page`` of ``pages`` of the site's article list; ``entries`` are (article, path)."""
    labels = site.labels
    teasers = "\n".join(
        f'<article class="teaser"><h2><a href="{_e(path)}">{_e(a.title)}</a></h2>'
        f'<p class="teaser-meta"><time datetime="{a.published.isoformat()}">{_e(_date(site, a.published))}</time></p>'
        f"<p>{_e(a.summary)}</p></article>"
        for a, path in entries
    )
    pager = []
    head = [f'<link rel="canonical" href="{_e(base_url + site.listing_path(page))}">']
    if page > 1:
        prev_path = site.listing_path(page - 1)
        pager.append(f'<a class="prev" rel="prev" href="{_e(prev_path)}">{_e(labels.previous)}</a>')
        head.append(f'<link rel="prev" href="{_e(base_url + prev_path)}">')
    pager.append(f'<span class="current">{_e(labels.page.format(n=page))}</span>')
    if page < pages:
        next_path = site.listing_path(page + 1)
        pager.append(f'<a class="next" rel="next" href="{_e(next_path)}">{_e(labels.next)}</a>')
        head.append(f'<link rel="next" href="{_e(base_url + next_path)}">')
    heading = labels.section if page == 1 else f"{labels.section} – {labels.page.format(n=page)}"
    main = f"""<main id="content" class="content">
<h1>{_e(heading)}</h1>
<div class="article-list">
{teasers}
</div>
<nav class="pagination" aria-label="{_e(labels.page.format(n=page))}">{" ".join(pager)}</nav>
</main>"""
    crumbs = [(labels.home, site.prefix), (labels.section, None)]
    return _page(site, base_url, title=f"{heading} | {site.short_name}", language=site.language,
                 head="\n".join(head), crumbs=crumbs, main=main, body_class="page-listing")


def plain_page(title: str, message: str, language: str = "en") -> str:
    """Pages outside the news sites: the index, a 404, the robots-protected intranet."""
    return (f'<!DOCTYPE html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            f"</head>\n<body>\n<h1>{_e(title)}</h1>\n{message}\n</body>\n</html>\n")
