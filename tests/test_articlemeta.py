"""The headline, author and date we compute are the ones stock trafilatura reports, and skipping its
metadata step leaves the extracted text as it was: on every fixture page and on the real pages."""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from trafilatura import load_html
from trafilatura.metadata import extract_metadata

from hlidka.fixtureweb import FixtureWeb
from pipelines.articlemeta import article_metadata, date_params
from pipelines.charset import decode_html
from pipelines.extraction import trafilatura_extraction

CORPUS = Path(__file__).parent / "corpus"


def corpus_pages() -> Iterator[tuple[str, str]]:
    for gold in json.loads((CORPUS / "pages.json").read_text(encoding="utf-8")):
        yield gold["url"], decode_html(gzip.decompress((CORPUS / gold["file"]).read_bytes()))


def fixture_pages() -> Iterator[tuple[str, str]]:
    with FixtureWeb() as web:
        for site in web.sites:
            for article in web.articles(site):
                url = web.article_url(site, article)
                with urllib.request.urlopen(url, timeout=10) as response:
                    yield url, decode_html(response.read())


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, str]]:
    found = [*corpus_pages(), *fixture_pages()]
    assert len(found) >= 20, "the fixture web and the corpus should give twenty pages"
    return found


def test_title_author_and_date_are_stock_trafilaturas(pages: list[tuple[str, str]]) -> None:
    with_author = with_date = 0
    for url, html in pages:
        ours = article_metadata(load_html(html), url)
        stock = extract_metadata(load_html(html), url, date_params())
        assert (ours.title, ours.author, ours.date) == (stock.title, stock.author, stock.date), url
        with_author += bool(ours.author)
        with_date += bool(ours.date)
    assert with_author > len(pages) / 2 and with_date > len(pages) / 2, "most pages should exercise both fields"


def test_the_text_does_not_depend_on_the_metadata_step(pages: list[tuple[str, str]]) -> None:
    for url, html in pages:
        texts = [getattr(trafilatura_extraction(load_html(html), url, with_metadata=metadata), "text", None)
                 for metadata in (True, False)]
        assert texts[0] and texts[0] == texts[1], url


def test_the_tree_is_left_as_it_was(pages: list[tuple[str, str]]) -> None:
    from lxml.html import tostring

    url, html = pages[0]
    tree = load_html(html)
    before = tostring(tree)
    article_metadata(tree, url)
    assert tostring(tree) == before
