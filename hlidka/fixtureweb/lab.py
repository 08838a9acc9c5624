"""The awkward corners of the real web, served under ``/lab/`` next to the three news sites.

What a crawler meets on real news sites after a few months, each in one place
so a test can point a source at it:

- ``/lab/press/`` — a ministry's press releases: a listing whose links are PDF files.
- ``/lab/charsets/`` — regional portals in windows-1250 (declared only in ``<meta>``),
  ISO-8859-2, KOI8-U, UTF-8 served with a windows-1250 header, and windows-1250
  served with a UTF-8 header.
- ``/lab/hosts/`` — a front page linking the MoD's articles on both of its host names
  (``mocr.mo.gov.cz`` and ``mocr.army.cz``), with tracking parameters, and once on a
  foreign mirror.
- ``/lab/traps/`` — a listing whose articles answer 429 with ``Retry-After``, 503 with a
  ``Retry-After`` of an hour, take longer than any timeout, weigh 4 MB, or redirect to a
  foreign host.
- ``/lab/calendar/YYYY/MM/`` — an events calendar whose "next month" never ends.

The pages reuse the chrome of the news sites (:mod:`hlidka.fixtureweb.render`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import urlsplit

from hlidka.fixtureweb.http import Response
from hlidka.fixtureweb.model import Article, Site
from hlidka.fixtureweb.pdf import pdf_document
from hlidka.fixtureweb.render import article_page, listing_page, plain_page

CET = timezone(timedelta(hours=1))
#: Host names the lab's pages link to; a crawler reaches them through a pinned resolver.
MOCR_HOST, MOCR_ALIAS, FOREIGN_HOST = "mocr.mo.gov.cz", "mocr.army.cz", "foreign.example"
#: How long the slow article keeps the client waiting, and the size of the huge one.
SLOW_SECONDS = 4.5
HUGE_BYTES = 4 * 1024 * 1024
#: The Retry-After of the throttled article's first answer, and of the overloaded one's every answer.
RETRY_AFTER_SHORT, RETRY_AFTER_LONG = 1, 3600


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CET)


# --------------------------------------------------------------------------- content

PRESS_RELEASES = (
    Article(
        id=1105, slug="tz-2024-11-05-korejska-republika",
        title="Ministryně obrany přijala delegaci Korejské republiky",
        published=_when("2024-11-05T16:30:00"), author="Odbor komunikace a propagace",
        paragraphs=(
            "Ministryně obrany dnes v Praze přijala delegaci ministerstva národní obrany Korejské republiky. "
            "Jednání se týkalo spolupráce obranného průmyslu, výcviku a výměny zkušeností z války na Ukrajině.",
            "„Korejská republika je pro nás klíčovým partnerem v Indo-Pacifiku. Chceme prohloubit spolupráci "
            "při výrobě munice a společném výzkumu,“ uvedla ministryně po jednání.",
            "Obě strany se dohodly, že pracovní skupina pro obranně-průmyslovou spolupráci se sejde v Soulu "
            "na jaře příštího roku. Delegace navštívila také Vojenskou akademii ve Vyškově.",
        ),
    ),
    Article(
        id=1028, slug="tz-2024-10-28-den-vzniku-republiky",
        title="Armáda si připomněla výročí vzniku samostatného státu",
        published=_when("2024-10-28T11:00:00"), author="Odbor komunikace a propagace",
        paragraphs=(
            "Slavnostní přehlídka jednotek Armády České republiky se uskutečnila na Vítězném náměstí v Praze. "
            "Před tribunou prošlo přes šest set vojáků a představila se i pozemní technika.",
            "Prezident republiky při té příležitosti jmenoval nové generály a ocenil vojáky, kteří se zasloužili "
            "o pomoc při zářijových povodních. Večer se konal tradiční koncert Hudby Hradní stráže.",
        ),
    ),
)


@dataclass(frozen=True)
class CharsetVariant:
    """One regional portal: its page encoding, what its Content-Type header claims, and one article."""

    name: str
    site: str  # the news site whose chrome it borrows
    encoding: str
    header_charset: str | None
    article: Article


CHARSET_VARIANTS = (
    CharsetVariant("windows-1250", "zpravy", "windows-1250", None, Article(
        id=501, slug="krizovy-stab-kraje-cvicil-evakuaci",
        title="Krizový štáb kraje cvičil evakuaci Šumperka",
        published=_when("2024-11-12T09:15:00"), author="Šárka Žáčková",
        paragraphs=(
            "Šéf krizového štábu žádá obce, aby si ověřily funkčnost sirén. Při cvičení se evakuovalo "
            "přes tři sta obyvatel Šumperka do tělocvičen základních škol.",
            "Žďárští hasiči zároveň vyzkoušeli přepravu nemocných z domova seniorů. Cvičení trvalo šest hodin "
            "a podle hejtmana odhalilo potíže hlavně se spojením mezi složkami.",
        ),
    )),
    CharsetVariant("iso-8859-2", "zpravy", "iso-8859-2", "iso-8859-2", Article(
        id=502, slug="tezka-technika-opravuje-silnici",
        title="Těžká technika opravuje silnici u Žďáru nad Sázavou",
        published=_when("2024-11-13T14:40:00"), author="Šimon Ťoupal",
        paragraphs=(
            "Ťažné vozy a bagry ženistů pomáhají silničářům opravit úsek poškozený sesuvem. Řidiči musí počítat "
            "s objížďkou přes Škrdlovice až do konce měsíce.",
            "Šestnáct vojáků pracuje ve dvou směnách; podle velitele roty je žádoucí dokončit zpevnění svahu "
            "dřív, než přijdou mrazy.",
        ),
    )),
    CharsetVariant("koi8-u", "ua", "koi8-u", "koi8-u", Article(
        id=503, slug="gener-shtab-navchannia-zhytomyrshchyna",
        title="Ґенеральний штаб провів навчання на Житомирщині",
        published=_when("2024-11-14T10:00:00"), author="Євгенія Ґудзь",
        paragraphs=(
            "Їхні підрозділи відпрацювали оборону ґрунтових доріг і переправ. Генштаб повідомив, що в навчаннях "
            "взяли участь єгерські та інженерні частини.",
            "Командир бригади зазначив, що особливу увагу приділили маскуванню техніки та евакуації поранених "
            "з поля бою. Наступний етап навчань відбудеться в грудні.",
        ),
    )),
    CharsetVariant("utf-8-as-windows-1250", "zpravy", "utf-8", "windows-1250", Article(
        id=504, slug="nemocnice-cvicila-prijem-ranenych",
        title="Nemocnice v Českých Budějovicích cvičila příjem raněných",
        published=_when("2024-11-15T08:30:00"), author="Jiří Řezníček",
        paragraphs=(
            "Příliš mnoho raněných najednou: tak zněl scénář cvičení, při kterém lékaři ošetřili čtyřicet "
            "figurantů. Žluťoučké kartičky třídění pacientů se osvědčily.",
            "Ředitel nemocnice uvedl, že ústřední příjem zvládl nápor za necelé dvě hodiny. Příští cvičení "
            "bude zaměřeno na výpadek elektřiny.",
        ),
    )),
    CharsetVariant("windows-1250-as-utf-8", "zpravy", "windows-1250", "utf-8", Article(
        id=505, slug="obec-dostala-novou-hasicskou-cisternu",
        title="Obec Štěpánov dostala novou hasičskou cisternu",
        published=_when("2024-11-16T12:00:00"), author="Květa Šťastná",
        paragraphs=(
            "Dobrovolní hasiči ze Štěpánova převzali cisternu, na kterou přispěl kraj i ministerstvo vnitra. "
            "Vůz uveze čtyři tisíce litrů vody a přídavné čerpadlo.",
            "Starostka obce ocenila, že jednotka může nově vyjíždět i k požárům v sousedních obcích. Stará "
            "cisterna z roku 1988 poslouží hasičskému muzeu.",
        ),
    )),
)

#: The traps listing's articles: what each one does, and its text when it is served at all.
TRAP_KINDS = ("ok", "throttled", "overloaded", "slow", "huge", "moved")
_TRAP_TEXT = (
    "Silničáři dokončili opravu mostu přes Lužnici a provoz se vrací do obou pruhů. Práce trvaly "
    "čtyři měsíce a vyšly na třicet milionů korun.",
    "Most prošel zatěžovací zkouškou, při které na něm stály čtyři nákladní automobily. Statici "
    "nezjistili žádné vady a doporučili kontrolu za pět let.",
)


def _trap_article(index: int, kind: str) -> Article:
    titles = {
        "ok": "Most přes Lužnici je opět průjezdný", "throttled": "Kraj rozdělí dotace na opravy hasičských zbrojnic",
        "overloaded": "Nemocnice rozšiřuje urgentní příjem", "slow": "Městská policie má nové služebny",
        "huge": "Fotogalerie: dny otevřených dveří na letišti", "moved": "Obec získala dotaci na kanalizaci",
    }
    return Article(id=600 + index, slug=kind, title=titles[kind], published=_when(f"2024-11-2{index}T10:00:00"),
                   author="Redakce", paragraphs=_TRAP_TEXT)


TRAP_ARTICLES = tuple(_trap_article(i, kind) for i, kind in enumerate(TRAP_KINDS))
INTERNAL_NOTICE = replace(_trap_article(9, "ok"), slug="interni-sdeleni", title="Interní sdělení zaměstnancům")


class Lab:
    """Answers requests under ``/lab/``; ``articles`` gives the current articles of a news site."""

    PREFIX = "/lab/"

    def __init__(self, sites: Mapping[str, Site], base_url: str, articles: Callable[[str], tuple[Article, ...]]):
        self.base_url = base_url
        self.port = urlsplit(base_url).port
        self._articles = articles
        self._lock = threading.Lock()
        self._throttled_hits = 0
        self._huge: bytes | None = None
        mocr = sites["mocr"]
        self.mocr = mocr
        self.press = replace(mocr, id="lab/press", listing="", page="?strana={n}", article="{slug}.pdf", articles=())
        self.traps = replace(mocr, id="lab/traps", listing="", page="?strana={n}", article="clanek/{slug}-{id}",
                             articles=())
        self.charset_sites = {
            v.name: replace(sites[v.site], id=f"lab/charsets/{v.name}", encoding=v.encoding, articles=())
            for v in CHARSET_VARIANTS
        }
        self.charsets = replace(mocr, id="lab/charsets", listing="", articles=())
        self.hosts = replace(mocr, id="lab/hosts", listing="", articles=())

    def host_url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def handle(self, target: str, headers: Mapping[str, str]) -> Response | None:
        """The reply for ``target``, or None when the path is not the lab's (a 404 then)."""
        path = urlsplit(target).path
        if path == self.press.listing_path():
            entries = [(a, self.press.article_path(a)) for a in PRESS_RELEASES]
            return self._html(listing_page(self.press, self.base_url, 1, 1, entries))
        for release in PRESS_RELEASES:
            if path == self.press.article_path(release):
                body = pdf_document(release.title, release.paragraphs, author=release.author or "",
                                    created=release.published)
                return Response(200, {"Content-Type": "application/pdf"}, body)
        if path.startswith(self.charsets.prefix):
            return self._charsets(path)
        if path == self.hosts.listing_path():
            return self._html(self._hosts_page())
        if path.startswith(self.traps.prefix):
            return self._traps(path)
        calendar = re.fullmatch(r"/lab/calendar/(\d{4})/(\d{2})/(?:(\d{2})/)?", path)
        if calendar:
            return self._calendar(*calendar.groups())
        return None

    # ------------------------------------------------------------------ corners

    def _charsets(self, path: str) -> Response | None:
        if path == self.charsets.listing_path():
            entries = [(v.article, self.charset_sites[v.name].article_path(v.article)) for v in CHARSET_VARIANTS]
            return self._html(listing_page(self.charsets, self.base_url, 1, 1, entries))
        for variant in CHARSET_VARIANTS:
            site = self.charset_sites[variant.name]
            if path == site.article_path(variant.article):
                page = article_page(site, variant.article, self.base_url, [])
                content_type = "text/html" + (f"; charset={variant.header_charset}" if variant.header_charset else "")
                return Response(200, {"Content-Type": content_type},
                             page.encode(variant.encoding, errors="xmlcharrefreplace"))
        return None

    def _hosts_page(self) -> str:
        """The MoD's newest articles linked the ways real pages link them: relative, on the old host name
        with tracking parameters, in capitals with a fragment, and once on a foreign mirror."""
        a, b, c, d = (self.mocr.article_path(x) for x in self._articles("mocr")[:4])
        links = [
            (a, "Zpráva dne"),
            (self.host_url(MOCR_ALIAS, a) + "?utm_source=web&utm_medium=hp", "Zpráva dne (starý web)"),
            (self.host_url(MOCR_ALIAS, b), "Druhá zpráva"),
            (self.host_url(MOCR_HOST.upper(), c) + "#komentare", "Třetí zpráva"),
            (self.host_url(FOREIGN_HOST, d), "Zrcadlo"),
        ]
        items = "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for href, label in links)
        return plain_page("Ministerstvo obrany – rozcestník", f'<ul class="article-list">{items}</ul>', "cs")

    def _traps(self, path: str) -> Response | None:
        if path == self.traps.listing_path():
            entries = [(a, self.traps.article_path(a)) for a in TRAP_ARTICLES]
            entries.append((INTERNAL_NOTICE, "/private/" + INTERNAL_NOTICE.slug))  # robots.txt forbids /private/
            return self._html(listing_page(self.traps, self.base_url, 1, 1, entries))
        article = next((a for a in TRAP_ARTICLES if path == self.traps.article_path(a)), None)
        if article is None:
            return None
        page = article_page(self.traps, article, self.base_url, [])
        kind = article.slug
        if kind == "throttled":
            with self._lock:
                self._throttled_hits += 1
                first = self._throttled_hits == 1
            if first:
                return Response(429, {"Retry-After": str(RETRY_AFTER_SHORT), "Content-Type": "text/plain"}, b"Too Many Requests")
        elif kind == "overloaded":
            return Response(503, {"Retry-After": str(RETRY_AFTER_LONG), "Content-Type": "text/plain"}, b"Service Unavailable")
        elif kind == "slow":
            time.sleep(SLOW_SECONDS)
        elif kind == "huge":
            return self._html_bytes(self._huge_page(page))
        elif kind == "moved":
            return Response(301, {"Location": self.host_url(FOREIGN_HOST, "/lab/elsewhere/" + kind)})
        return self._html(page)

    def _calendar(self, year: str, month: str, day: str | None) -> Response:
        if day is not None:
            return self._html(plain_page(f"Akce {int(day)}. {int(month)}. {year}", "<p>Žádné akce.</p>", "cs"))
        y, m = int(year), int(month)
        later = (y + m // 12, m % 12 + 1)
        earlier = (y - (m == 1), (m - 2) % 12 + 1)
        days = "".join(f'<li><a href="/lab/calendar/{y:04d}/{m:02d}/{d:02d}/">{d}.</a></li>' for d in range(1, 29))
        body = (f'<ul class="article-list">{days}</ul><nav class="pagination">'
                f'<a rel="prev" href="/lab/calendar/{earlier[0]:04d}/{earlier[1]:02d}/">« Předchozí měsíc</a> '
                f'<a rel="next" href="/lab/calendar/{later[0]:04d}/{later[1]:02d}/">Další měsíc »</a></nav>')
        return self._html(plain_page(f"Kalendář akcí {m}/{y}", body, "cs"))

    def _huge_page(self, page: str) -> bytes:
        """The article with a photo gallery of some thousand images; built once, so it is served at once."""
        with self._lock:
            if self._huge is None:
                gallery = "".join(f'<img src="/foto/{i}.jpg" alt="Snímek {i}">' for i in range(HUGE_BYTES // 30))
                self._huge = page.replace("</main>", f'<div class="gallery">{gallery}</div></main>').encode("utf-8")
            return self._huge

    @staticmethod
    def _html(page: str) -> Response:
        return Lab._html_bytes(page.encode("utf-8"))

    @staticmethod
    def _html_bytes(body: bytes) -> Response:
        return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)
