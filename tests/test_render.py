"""Alert rendering: the three bodies, escaping per format, highlights, and user template overrides."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jinja2
import pytest
from apprise.conversion.format import markdown_to_html

from alerts.render import (
    AlertContext,
    TermCount,
    count_terms,
    escape_markdown,
    markdown_url,
    render_alert,
    snippet_parts,
)

SNIPPET = "… slouží jako fórum. Korejská republika jihokorejským ministerstvem obrany a Південної Кореї …"


def span(text: str, needle: str) -> tuple[int, int]:
    start = text.index(needle)
    return start, start + len(needle)


@pytest.fixture
def ctx() -> AlertContext:
    return AlertContext(
        watchlist_id="korea",
        watchlist_name="Korea",
        title="Korejská republika jihokorejským partnerům: Південної Кореї",
        url="https://www.mocr.cz/clanek_(1)?a=1&b=2",
        source_id="mocr",
        source_name="Ministerstvo obrany ČR",
        published=datetime(2024, 9, 12, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        language="cs",
        score=4.25,
        terms=(TermCount("Korejská republika", 2), TermCount("jihokorejský", 1)),
        snippet=SNIPPET,
        spans=[span(SNIPPET, "Korejská republika"), span(SNIPPET, "jihokorejským")],
        other_urls=["https://www.ceskenoviny.cz/zpravy/korea", "https://example.org/a b"],
    )


def visible_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_title_line_names_the_watchlist_and_keeps_the_original_title(ctx: AlertContext) -> None:
    rendered = render_alert(ctx)
    assert rendered.title == "[Korea] Korejská republika jihokorejským partnerům: Південної Кореї"
    assert render_alert(replace(ctx, watchlist_name="", title="Two\nlines  here")).title == "[korea] Two lines here"


def test_every_body_carries_url_source_time_terms_and_other_urls(ctx: AlertContext) -> None:
    rendered = render_alert(ctx)
    as_read = {
        "markdown": visible_text(markdown_to_html(rendered.markdown)),
        "html": visible_text(rendered.html),
        "text": rendered.text,
    }
    for body in as_read.values():
        assert "Ministerstvo obrany ČR · 2024-09-12 08:30 UTC · cs · score 4.2" in body, "time in UTC"
        assert "Korejská republika ×2, jihokorejský ×1" in body
        assert "https://www.ceskenoviny.cz/zpravy/korea" in body
    assert ctx.url in rendered.text
    assert ctx.url in as_read["html"], "the URL is visible text, so the plain-text alternative has it"


def test_html_is_autoescaped_and_keeps_czech_and_cyrillic(ctx: AlertContext) -> None:
    hostile = replace(ctx, title='<script>alert("x")</script> & Jižní Korea', source_name="<b>Zdroj</b>")
    page = render_alert(hostile).html
    assert "<script>" not in page and "<b>Zdroj</b>" not in page
    assert "&lt;script&gt;" in page and "&amp; Jižní Korea" in page
    assert "Korejská republika jihokorejským" in visible_text(page)
    assert "Південної Кореї" in page, "non-ASCII is written as characters, not entities"
    assert '<html lang="cs">' in page
    assert 'href="https://www.mocr.cz/clanek_(1)?a=1&amp;b=2"' in page


def test_html_marks_each_highlight(ctx: AlertContext) -> None:
    page = render_alert(ctx).html
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", page)
    assert marked == ["Korejská republika", "jihokorejským"]


def test_markdown_highlights_hits_and_links_the_title(ctx: AlertContext) -> None:
    body = render_alert(ctx).markdown
    assert body.startswith("[Korejská republika jihokorejským partnerům: Південної Кореї](<https://www.mocr.cz/clanek_(1)?a=1&b=2>)")
    assert "> … slouží jako fórum. **Korejská republika** **jihokorejským** ministerstvem" in body
    page = markdown_to_html(body)
    assert '<a href="https://www.mocr.cz/clanek_(1)?a=1&amp;b=2">' in page
    assert "<strong>Korejská republika</strong>" in page and "<strong>jihokorejským</strong>" in page
    assert "https://example.org/a%20b" in body


def test_markdown_escapes_article_text_so_it_cannot_format(ctx: AlertContext) -> None:
    tricky = "*Breaking* _news_ [VIDEO] <b>tag</b> `code` snake_case AT&T \\ end"
    body = render_alert(replace(ctx, title=tricky, snippet=tricky, spans=[], source_name="# Not a heading")).markdown
    page = markdown_to_html(body)
    for tag in ("<em>", "<b>", "<code>", "<h1>"):
        assert tag not in page
    assert visible_text(page).count(tricky) == 2, "title and snippet read exactly as written"
    assert "snake_case" in body, "an underscore inside a word needs no backslash"


@pytest.mark.parametrize("text", [
    "*a* _b_ __c__ **d**", "[x](y) ![i](j)", "<https://x.org>", "`x` ``y``", "# h", "- item", "+ item",
    "1. first", "2) second", "a\\b", "AT&T & co", "> quote", "===", "snake_case_name", "Jižní Korea",
    "Південна Корея",
])
def test_escaped_markdown_renders_back_to_the_same_text(text: str) -> None:
    """Checked with the converter apprise itself uses when a channel needs HTML from our Markdown."""
    assert visible_text(markdown_to_html(escape_markdown(text))).strip() == text


def test_escaping_keeps_one_space_where_the_text_had_any() -> None:
    assert escape_markdown(" a \n\t b ") == " a b "


def test_markdown_url_encodes_only_what_would_end_the_link() -> None:
    assert markdown_url("https://uk.example/новини/a_(b)?q=1&r=2") == "https://uk.example/новини/a_(b)?q=1&r=2"
    assert markdown_url("https://x.org/a b<c>\\d") == "https://x.org/a%20b%3Cc%3E%5Cd"


def test_text_body_is_not_escaped(ctx: AlertContext) -> None:
    tricky = replace(ctx, title="*Breaking* <b> & co", snippet="a_b & <c>", spans=[(0, 3)])
    text = render_alert(tricky).text
    assert "*a_b* & <c>" in text
    assert "\\" not in text and "&amp;" not in text


def test_missing_optional_fields_leave_no_gaps(ctx: AlertContext) -> None:
    bare = replace(ctx, published=None, language=None, terms=(), snippet="", spans=[], other_urls=[])
    rendered = render_alert(bare)
    assert rendered.markdown == (
        "[Korejská republika jihokorejským partnerům: Південної Кореї](<https://www.mocr.cz/clanek_(1)?a=1&b=2>)\n\n"
        "Ministerstvo obrany ČR · score 4.2"
    )
    assert rendered.text == "https://www.mocr.cz/clanek_(1)?a=1&b=2\nMinisterstvo obrany ČR · score 4.2"
    assert "<blockquote" not in rendered.html and "<mark" not in rendered.html and "Terms" not in rendered.html
    assert "<html>" in rendered.html, "no empty lang attribute"


def test_snippet_parts_merge_overlaps_and_ignore_spans_outside_the_text() -> None:
    parts = snippet_parts("abcdefghij", [(6, 8), (1, 3), (2, 4), (8, 9), (20, 30), (5, 5)])
    assert [(p.text, p.hit) for p in parts] == [("a", False), ("bcd", True), ("ef", False), ("ghi", True), ("j", False)]
    assert [(p.text, p.hit) for p in snippet_parts("abc", [])] == [("abc", False)]


def test_count_terms_orders_by_frequency_then_first_appearance() -> None:
    assert count_terms(["NATO", "Korea", "Korea", "Soul", "NATO", "Korea"]) == (
        TermCount("Korea", 3), TermCount("NATO", 2), TermCount("Soul", 1),
    )


def test_naive_published_time_is_taken_as_utc(ctx: AlertContext) -> None:
    assert "2024-09-12 10:30 UTC" in render_alert(replace(ctx, published=datetime(2024, 9, 12, 10, 30))).text
    assert "2024-09-12 10:30 UTC" in render_alert(replace(ctx, published=datetime(2024, 9, 12, 10, 30, tzinfo=UTC))).text


def test_user_template_overrides_one_format_and_the_others_fall_back(ctx: AlertContext, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert.md.j2").write_text("Hlídka: {{ alert.title|md }} — {{ title|md }}", encoding="utf-8")
    (templates / "alert.html.j2").write_text("<p>{{ alert.title }}</p>", encoding="utf-8")
    rendered = render_alert(replace(ctx, title="A & <b>"), templates)
    assert rendered.markdown == "Hlídka: A & \\<b\\> — \\[Korea\\] A & \\<b\\>"
    assert rendered.html == "<p>A &amp; &lt;b&gt;</p>", "an override of the HTML template is autoescaped too"
    assert rendered.text == render_alert(replace(ctx, title="A & <b>")).text


def test_a_typo_in_a_user_template_fails_instead_of_sending_blanks(ctx: AlertContext, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert.txt.j2").write_text("{{ alert.titel }}", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError):
        render_alert(ctx, templates)


def test_templates_added_edited_and_removed_take_effect_without_a_restart(ctx: AlertContext, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    default = render_alert(ctx, templates).text
    override = templates / "alert.txt.j2"
    override.write_text("first {{ alert.source_id }}", encoding="utf-8")
    assert render_alert(ctx, templates).text == "first mocr"
    override.write_text("second version {{ alert.source_id }}", encoding="utf-8")
    assert render_alert(ctx, templates).text == "second version mocr"
    override.unlink()
    assert render_alert(ctx, templates).text == default
