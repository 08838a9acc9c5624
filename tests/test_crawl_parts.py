"""The crawler's parts on their own: charset correction, Retry-After, PDF text, the validator store,
sitemap entries, the spider's callbacks and the new source options' error messages."""

from __future__ import annotations

import codecs
import gzip
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from lxml import etree
from scrapy.http import HtmlResponse, Request, Response
from scrapy.utils.misc import is_generator_with_return_value
from scrapy.utils.test import get_crawler

from config.loader import ConfigError, load_sources
from crawler.middlewares import ROLE, CharsetMiddleware, HeadMetaRefreshMiddleware, _retry_after
from crawler.revalidation import Chain, Validators, load_validators, save_validators, settled
from crawler.spiders.sources import SourceSpider, _sitemap_entries
from hlidka.db import Database
from hlidka.fixtureweb.lab import PRESS_RELEASES
from hlidka.fixtureweb.pdf import pdf_document
from pipelines.charset import decode_by_evidence
from pipelines.pdftext import extract_pdf

CZECH = "<html><head><meta charset='{meta}'></head><body><p>Příliš žluťoučký kůň úpěl ďábelské ódy.</p></body></html>"


def html_response(body: bytes, content_type: str) -> HtmlResponse:
    url = "http://example.org/clanek"
    return HtmlResponse(url, body=body, headers={"Content-Type": content_type}, request=Request(url))


@pytest.mark.parametrize(("meta", "encoding", "header"), [
    ("utf-8", "utf-8", "text/html; charset=windows-1250"),  # a server default that lies
    ("utf-8", "utf-8", "text/html; charset=iso-8859-1"),
    ("windows-1250", "windows-1250", "text/html; charset=utf-8"),  # the other way round: <meta> tells the truth
    ("windows-1250", "windows-1250", "text/html; charset=windows-1250"),  # nothing to correct
    ("iso-8859-2", "iso-8859-2", "text/html"),  # no header charset: Scrapy reads <meta> itself
])
def test_charset_middleware_decodes_by_the_evidence(meta: str, encoding: str, header: str) -> None:
    body = CZECH.format(meta=meta).encode(encoding)
    response = CharsetMiddleware().process_response(Request("http://example.org/"), html_response(body, header))
    assert "Příliš žluťoučký kůň úpěl ďábelské ódy." in response.text


def test_charset_middleware_keeps_utf8_with_a_replacement_character_of_its_own() -> None:
    """A U+FFFD in a valid UTF-8 page (a copied mojibake) is not taken for a wrongly labelled page."""
    body = ("<meta charset='windows-1250'><p>Příliš \ufffd žluťoučký</p>").encode("utf-8")
    response = html_response(body, "text/html; charset=utf-8")
    assert CharsetMiddleware().process_response(Request("http://x/"), response) is response


def test_charset_middleware_leaves_plain_ascii_and_binary_alone() -> None:
    ascii_page = html_response(b"<p>NATO summit</p>", "text/html; charset=windows-1250")
    assert CharsetMiddleware().process_response(Request("http://x/"), ascii_page) is ascii_page
    pdf = Response("http://x/a.pdf", body=b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
    assert CharsetMiddleware().process_response(Request("http://x/"), pdf) is pdf


@pytest.mark.parametrize(("meta", "encoding", "header"), [
    ("utf-8", "utf-8", "windows-1250"),
    ("windows-1250", "windows-1250", "utf-8"),
    ("iso-8859-2", "iso-8859-2", None),
])
def test_the_worker_decodes_an_article_by_the_same_evidence(meta: str, encoding: str, header: str | None) -> None:
    # Article pages skip CharsetMiddleware; the extraction worker decodes their bytes by the same rule.
    body = CZECH.format(meta=meta).encode(encoding)
    scrapy_choice = html_response(body, f"text/html; charset={header}" if header else "text/html").encoding
    codec, text = decode_by_evidence(body, scrapy_choice, header)
    assert "Příliš žluťoučký kůň úpěl ďábelské ódy." in text
    assert codecs.lookup(codec).name == codecs.lookup(encoding).name


def test_charset_middleware_leaves_article_pages_to_the_worker() -> None:
    body = CZECH.format(meta="utf-8").encode("utf-8")
    response = html_response(body, "text/html; charset=windows-1250")
    article = Request("http://example.org/clanek", meta={ROLE: "article"})
    assert CharsetMiddleware().process_response(article, response) is response


def _meta_refresh_middleware() -> HeadMetaRefreshMiddleware:
    return HeadMetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_ENABLED": True}))


def test_meta_refresh_in_the_head_of_a_large_page_redirects() -> None:
    head = '<html><head><meta http-equiv="refresh" content="0; url=/novy-clanek"></head><body>'
    body = (head + "<p>Příliš žluťoučký kůň.</p>" * 2000 + "</body></html>").encode("utf-8")
    request = Request("http://example.org/clanek")
    outcome = _meta_refresh_middleware().process_response(request, html_response(body, "text/html; charset=utf-8"))
    assert isinstance(outcome, Request) and outcome.url == "http://example.org/novy-clanek"


@pytest.mark.parametrize(("encoding", "tag"), [
    ("windows-1250", '<META HTTP-EQUIV="Refresh" CONTENT="0; URL=/novy-clanek">'),  # upper case, a short page
    ("utf-16", '<meta http-equiv="refresh" content="0; url=/novy-clanek">'),  # no ASCII bytes to look for
])
def test_meta_refresh_is_found_whatever_the_case_or_the_encoding(encoding: str, tag: str) -> None:
    body = f"<html><head>{tag}</head><body><p>Příliš žluťoučký kůň.</p></body></html>".encode(encoding)
    response = html_response(body, f"text/html; charset={encoding}")
    outcome = _meta_refresh_middleware().process_response(Request(response.url), response)
    assert isinstance(outcome, Request) and outcome.url == "http://example.org/novy-clanek"


def test_a_large_page_without_meta_refresh_comes_back_whole_and_undecoded() -> None:
    body = ("<html><head><title>Zprávy</title></head><body>" + "<p>Příliš žluťoučký kůň.</p>" * 2000).encode("utf-8")
    response = html_response(body, "text/html; charset=utf-8")
    assert _meta_refresh_middleware().process_response(Request(response.url), response) is response
    assert response._cached_ubody is None  # what the middleware saves: Scrapy's own decodes all ~60 KB here


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def answer(value: str) -> Response:
        return Response("http://x/", status=429, headers={"Retry-After": value})

    assert _retry_after(answer("120")) == 120
    in_a_minute = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (_retry_after(answer(in_a_minute)) or 0) <= 60
    assert _retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0
    assert _retry_after(answer("soon")) is None
    assert _retry_after(Response("http://x/", status=429)) is None


def test_pdf_text_title_dates_and_paragraphs() -> None:
    release = PRESS_RELEASES[0]
    paragraphs = (*release.paragraphs, "Ozbrojené síly posílí spolupráci s part-\nnery.")
    data = pdf_document(release.title, paragraphs, author="Tiskové oddělení", created=release.published)
    extracted = extract_pdf(data, language_hint="cs")
    assert extracted.ok and extracted.title == release.title and extracted.language == "cs"
    assert extracted.published == release.published and extracted.author == "Tiskové oddělení"
    assert release.paragraphs[0] in extracted.text
    assert not extracted.text.startswith("TISKOVÁ ZPRÁVA")


@pytest.mark.parametrize(("data", "reason"), [
    (b"<html>not a pdf</html>", "unreadable PDF"),
    (pdf_document("Krátká zpráva", ["Jedna věta."], author="X", created=datetime(2024, 1, 1, tzinfo=timezone.utc)),
     "too little text"),
])
def test_pdf_without_enough_text_is_rejected_with_a_reason(data: bytes, reason: str) -> None:
    extracted = extract_pdf(data)
    assert not extracted.ok and extracted.reason and extracted.reason.startswith(reason)


def test_sitemap_entries_carry_the_news_date_or_lastmod() -> None:
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc> https://example.org/a </loc><lastmod>2024-11-01</lastmod>
  <news:news><news:publication_date>2024-11-05T10:00:00+01:00</news:publication_date></news:news></url>
<url><loc>https://example.org/b</loc><lastmod>2024-11-03T08:00:00Z</lastmod></url>
<url><loc>https://example.org/c</loc></url>
</urlset>"""
    root = etree.fromstring(gzip.decompress(gzip.compress(xml)))
    entries = dict(_sitemap_entries(root))
    assert entries["https://example.org/a"] == datetime(2024, 11, 5, 9, 0, tzinfo=timezone.utc)
    assert entries["https://example.org/b"] == datetime(2024, 11, 3, 8, 0, tzinfo=timezone.utc)
    assert entries["https://example.org/c"].year == 1970


@pytest.mark.parametrize("callback", [SourceSpider.parse_listing, SourceSpider.parse_article])
def test_spider_callbacks_return_no_value_from_their_generators(callback: object) -> None:
    # What Scrapy's WARN_ON_GENERATOR_RETURN_VALUE checks on every response, checked once here instead
    # (crawler/settings.py turns it off): a value returned from a callback generator is silently lost.
    assert not is_generator_with_return_value(callback)


def test_validators_are_stored_per_url_and_only_for_settled_chains(database: Database) -> None:
    clean, broken = Chain(), Chain(failed=True)
    fresh = {
        "https://example.org/": Validators('"abc"', "Mon, 04 Nov 2024 10:00:00 GMT", chain=clean),
        "https://example.org/sitemap.xml": Validators(None, "Mon, 04 Nov 2024 10:00:00 GMT",
                                                      follow=["https://example.org/news.xml"], chain=clean),
        "https://example.org/?page=2": Validators('"def"', None, chain=broken),
    }
    save_validators(database, "src", settled(fresh))
    save_validators(database, "src", {"https://example.org/": Validators('"xyz"', None)})
    stored = load_validators(database, "src")
    assert stored == {
        "https://example.org/": Validators('"xyz"', None),
        "https://example.org/sitemap.xml": Validators(None, "Mon, 04 Nov 2024 10:00:00 GMT",
                                                      follow=["https://example.org/news.xml"]),
    }
    assert load_validators(database, "other") == {}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("link_scope_xpath", "//div[@class='list'", "not a valid XPath expression"),
    ("link_scope", "div.list >", "not a valid CSS selector"),
    ("pdf_links", "['(\\\\.pdf$']", "not a valid regular expression"),
    ("recheck", "often", "expected a duration"),
    ("kind", "atom", "Input should be 'html', 'rss' or 'sitemap'"),
])
def test_source_option_errors_name_file_line_and_field(tmp_path: Path, field: str, value: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - id: mocr\n    start_urls: [https://mocr.mo.gov.cz/]\n"
                    f"    {field}: {value if value.startswith('[') else repr(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_sources(path)
    issue = error.value.issues[0]
    assert issue.path == path and issue.line == 4 and field in issue.field and message in issue.message
