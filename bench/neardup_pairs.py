"""Build the labelled near-duplicate pair set in tests/corpus/, and sweep the similarity threshold over it.

Run:  .venv/bin/python bench/neardup_pairs.py [CORPUS] [--write]   (a few seconds)

CORPUS is the shared evaluation corpus (default ``../shared/corpus`` relative to
the repository); the seeds come from ``seeds/``. Without ``--write`` the pair set
already in ``tests/corpus/neardup_pairs.json`` is only evaluated, so the sweep
runs without the corpus too.

Pairs are labelled *same story* or *different stories*:

* same story: a real pair (the taz article crawled twice, 18 months apart, with
  an edited text) and re-publications derived from real texts by the edits that
  happen on news sites: a fixed typo or OCR slip, an added update paragraph, a new
  headline and lead, a syndicated copy trimmed by a portal, the copy wrapped in
  another site's share buttons, photo credits and "read also" lines, the same
  text on a second host;
* different stories on the same topic: real pairs from the corpus and the seeds
  (the same deputy minister meeting Korean partners twice, the army and floods
  twice, two Home Depot earnings stories, two press releases that share an
  "About" paragraph, same-template pages of one publisher), a follow-up article
  that reuses a background paragraph, and the next day's figures in a templated
  report.

Only texts whose licence allows a copy in the repository are used: the MIT-licensed
corpus sets, the two Ukrainian pages of ``cs_uk`` (MIT, Artistic-2.0), the seeds and
the fixture web's fillers; the other ``cs_uk`` pages state no licence.

Texts are cut to their first ~2,500 characters (at a paragraph end) to keep the set small; the
edits are applied to the cut text. The printed table is precision and recall of "same story"
at each threshold, which is how the default of ``dedupe.threshold`` was chosen.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
PAIRS_FILE = ROOT / "tests" / "corpus" / "neardup_pairs.json"
MAX_CHARS = 2500

from pipelines.neardup import signature  # noqa: E402

Text = dict[str, str]


# --------------------------------------------------------------------------- base texts


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    paragraphs = [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]
    kept: list[str] = []
    for paragraph in paragraphs:
        if kept and sum(len(p) + 1 for p in kept) + len(paragraph) > limit:
            break
        kept.append(paragraph)
    return "\n".join(kept)


class Bases:
    """Texts by name: ``gold:<set>/<id>``, ``page:<cs_uk id>`` (extracted by us), ``seed:<nnn>`` and
    ``filler:<id>`` (the fixture web's articles: the seeds and the fillers written for it)."""

    def __init__(self, corpus: Path):
        self.corpus = corpus
        self.gold: dict[str, dict[str, str]] = {}
        for gold_file in corpus.glob("*/gold.json"):
            for record in json.loads(gold_file.read_text(encoding="utf-8")):
                self.gold[f"{gold_file.parent.name}/{record['id']}"] = record
        self.pages = {r["id"]: r for r in json.loads((corpus / "cs_uk" / "pages.json").read_text(encoding="utf-8"))}

    def get(self, name: str, *, full: bool = False) -> tuple[Text, str]:
        kind, key = name.split(":", 1)
        if kind == "gold":
            record = self.gold[key]
            text, title = record["main_text"], record.get("title") or ""
            source = f"{key} gold main text ({record['url']})"
        elif kind == "page":
            from pipelines.extraction import extract_article

            record = self.pages[key]
            html = gzip.decompress((self.corpus / "cs_uk" / record["html"]).read_bytes())
            extracted = extract_article(html, record["url"])
            text, title = extracted.text, extracted.title
            source = f"cs_uk/{key} extracted by pipelines.extraction ({record['url']})"
        else:
            from hlidka.fixtureweb.content import load_sites

            wanted = (lambda a: a.seed == key) if kind == "seed" else (lambda a: str(a.id) == key)
            article = next(a for s in load_sites().values() for a in s.articles if wanted(a))
            text, title = "\n".join(p for p in (article.lead, *article.paragraphs) if p), article.title
            source = (f"seeds/originals/{key}_*.txt as served by the fixture web" if kind == "seed"
                      else f"seeds/site.yaml filler article {key}")
        return {"title": title, "text": text if full else _cut(text)}, source


# --------------------------------------------------------------------------- edits


def replace(*pairs: tuple[str, str]) -> Callable[[Text], Text]:
    def edit(t: Text) -> Text:
        text = t["text"]
        for old, new in pairs:
            if old not in text:
                raise ValueError(f"edit target not in text: {old!r}")
            text = text.replace(old, new, 1)
        return {**t, "text": text}
    return edit


def wrap(before: list[str] = [], after: list[str] = [], title: str | None = None,  # noqa: B006 - never mutated
         insert: dict[int, str] = {}) -> Callable[[Text], Text]:  # noqa: B006
    def edit(t: Text) -> Text:
        paragraphs = t["text"].split("\n")
        for index in sorted(insert, reverse=True):
            paragraphs.insert(index, insert[index])
        return {"title": title or t["title"], "text": "\n".join([*before, *paragraphs, *after])}
    return edit


def keep(first: int, after: list[str] = [], title: str | None = None) -> Callable[[Text], Text]:  # noqa: B006
    def edit(t: Text) -> Text:
        return {"title": title or t["title"], "text": "\n".join([*t["text"].split("\n")[:first], *after])}
    return edit


def chain(*edits: Callable[[Text], Text]) -> Callable[[Text], Text]:
    def edit(t: Text) -> Text:
        for step in edits:
            t = step(t)
        return t
    return edit


def renumber(t: Text) -> Text:
    """The next day's edition of a templated report: every figure changes."""
    import re

    return {**t, "text": re.sub(r"\d+", lambda m: str(int(m.group()) + 7 + len(m.group())), t["text"])}


# --------------------------------------------------------------------------- the pairs

SAME = [
    # (kind, base, edit applied to make the second text; None = a real second text named in `other`)
    ("typo fixed", "seed:001", replace(("náměstek Blažkovec.", "náměstek Blažkovec ."),
                                       ("pořádaný od roku 2012", "pořádané od roku 2012"),
                                       ("klíčovými partnery", "klíčovými partnerami"))),
    ("new headline and lead", "seed:001", wrap(
        title="Česko a Jižní Korea obnoví bezpečnostní konzultace, dohodl náměstek v Soulu",
        before=["Náměstek ministryně obrany Daniel Blažkovec se v Soulu zúčastnil bezpečnostního fóra "
                "a jednal s jihokorejským protějškem."])),
    ("other site's boilerplate", "seed:001", wrap(
        before=["Sdílet na Facebooku", "Sdílet na X", "Foto: Ministerstvo obrany ČR"],
        insert={3: "Čtěte také: Armáda dostala první nové obrněné transportéry"},
        after=["Zdroj: Ministerstvo obrany ČR, mocr.army.cz",
               "Líbil se vám článek? Přihlaste se k odběru našeho newsletteru a nic vám neunikne."])),
    ("OCR slips corrected", "seed:000", replace(("nejvyznamnéjsich partneru", "nejvýznamnějších partnerů"),
                                                ("ned4vno piijala", "nedávno přijala"),
                                                ("ministrii obrany", "ministrů obrany"),
                                                ("dosdhnout opravdového", "dosáhnout opravdového"))),
    ("same text on a second host", "seed:000", wrap()),
    ("syndicated copy trimmed, agency credit", "seed:002", keep(5, after=["(ČTK)"])),
    ("update paragraph added", "seed:002", chain(
        replace(("Po setkání ministrů obrany NATO v Bruselu", "Po čtvrtečním setkání ministrů obrany NATO v Bruselu")),
        wrap(after=["Aktualizováno 17:45: Jihokorejská zpravodajská služba mezitím uvedla, že podle jejích "
                    "informací se v Rusku nachází nejméně 3000 severokorejských vojáků."]))),
    ("other site's boilerplate", "seed:004", wrap(
        before=["Фото: Міністерство оборони України"],
        insert={2: "Читайте також: Україна отримала нову партію бронетехніки від партнерів"},
        after=["Джерело: Міністерство оборони України", "Підписуйтесь на наш Telegram-канал, щоб першими "
               "дізнаватися найважливіші новини."])),
    ("new headline, last paragraph dropped", "seed:004", chain(
        keep(5, title="Умєров обговорив у Сеулі безпеку з президентом Юн Сок Йолем"))),
    ("same article crawled twice, edited (real)", "gold:fundus/de_Taz_2023_04_28", None),
    ("update: paragraph added, figures changed", "gold:fundus/uk_BBC_2026_04_25", chain(
        wrap(insert={2: "Update: Nato's secretary general said on Friday that the alliance had not received "
                        "any formal proposal from Washington and that all allies remained committed to "
                        "collective defence."}))),
    ("syndicated with a portal's frame", "gold:scrapinghub_aeb/51374560f40088e227f0053ff1bb0b8525d10a8d7bfbff1cd6033f42347fd85b",
     wrap(before=["Markets | Published 8:12 a.m. ET"],
          after=["This article was originally published on FOXBusiness.com.",
                 "Get the latest market news and analysis delivered to your inbox every morning: sign up now."])),
    ("shortened copy with agency credits", "gold:fundus/de_DW_2023_04_28",
     keep(7, after=["Mit Material von dpa, AFP und Reuters.", "Dieser Artikel wurde am Freitag aktualisiert."])),
    ("new headline and boilerplate", "gold:fundus/cz_SeznamZpravy_2025_11_06", wrap(
        title="Čech bojující na Donbasu popsal výslech zajatého vojáka",
        before=["Poslechněte si tento článek v audioverzi."],
        after=["Sdílet článek", "Autor: redakce, převzato se souhlasem vydavatele"])),
    ("typos fixed, update appended", "gold:fundus/cz_SeznamZpravy_2025_04_08", chain(
        replace(("Verdikt soudkyně Navrátilové byl zamítavý.", "Verdikt soudkyně Navrátilové byl nakonec zamítavý."),
                ("Vila na prodej", "Vila je na prodej")),
        wrap(after=["Aktualizace: Policie se k výpovědi obviněného odmítla vyjádřit s odkazem na probíhající "
                    "vyšetřování."]))),
    ("new headline and boilerplate", "gold:fundus/cz_SeznamZpravy_2025_12_10", wrap(
        title="Češi prožijí v důchodu ve zdraví jen pár let, data ukazují zhoršení",
        before=["Reklama", "Článek si také můžete poslechnout v audioverzi."],
        after=["Sdílejte článek na sociálních sítích.", "Zdroj: Seznam Zprávy"])),
    ("agency story: dateline changed, ending trimmed",
     "gold:scrapinghub_aeb/f8ff621a0b9b7646cc0d57d37416feabba2bf78ef5dd0bfc5b080f9f97bbe584",
     chain(keep(6), wrap(before=["NEW YORK (Dow Jones) --"]))),
    ("same text on a second host", "gold:fundus/cz_SeznamZpravy_2025_04_08", wrap()),
    ("portal keeps the first half", "gold:fundus/uk_BBC_2026_04_25", keep(9)),
    ("agency story reworded by a portal", "seed:002", replace(
        ("Po setkání ministrů obrany NATO v Bruselu však Rutte zdůraznil", "Generální tajemník NATO Mark Rutte "
         "po jednání ministrů obrany v Bruselu řekl"),
        ("Soul a Washington již delší dobu tvrdí", "Jižní Korea i Spojené státy už dlouho upozorňují"),
        ("uvedl Rutte. NATO je podle něj", "prohlásil šéf Aliance. Ta je podle něj"),
        ("Kreml popřel, že by severokorejští vojáci byli zapojeni do války na Ukrajině.",
         "Moskva zapojení severokorejských vojáků do bojů odmítá."),
        ("Tato tvrzení však byla popřena jak Pchjongjangem, tak Moskvou.", "Pchjongjang i Moskva to popírají."))),
]

SAME_REAL = {"gold:fundus/de_Taz_2023_04_28": "gold:fundus/de_Taz_2024_10_23"}

FOLLOW_UP_CS = [
    "Severokorejští vojáci se podle ukrajinské rozvědky už přesunuli do Kurské oblasti, kde mají posílit "
    "ruské jednotky. Podle šéfa rozvědky jde o první skupinu z několika tisíc mužů.",
    "Jihokorejský prezident Jun Sok-jol v pátek svolal mimořádné zasedání bezpečnostní rady. Soul zvažuje, "
    "zda Ukrajině poskytne kromě humanitární pomoci také obranné zbraně.",
    "Americký ministr obrany Lloyd Austin na tiskové konferenci řekl, že pokud se severokorejští vojáci zapojí "
    "do bojů, stanou se legitimním cílem. Washington podle něj situaci pečlivě sleduje.",
    "Moskva přítomnost severokorejských vojáků dál nepotvrdila. Mluvčí Kremlu Dmitrij Peskov označil zprávy "
    "za další výmysly západních médií.",
]

DIFFERENT = [
    # (kind, base, other) — or an edit in place of `other`
    ("two outlets, one company's quarterly results", "gold:scrapinghub_aeb/51374560f40088e227f0053ff1bb0b8525d10a8d7bfbff1cd6033f42347fd85b",
     "gold:scrapinghub_aeb/f8ff621a0b9b7646cc0d57d37416feabba2bf78ef5dd0bfc5b080f9f97bbe584"),
    ("two press releases sharing an 'About' paragraph", "gold:scrapinghub_aeb/57e2e98887a1965689955921208e32f410b10e2b95c907e74e57982d3edf3cc6",
     "gold:scrapinghub_aeb/dfd43bc0d46e7aaa78ba10fbcb5b9fdfe78771d36cb4c7497e17fb6f69170ec5"),
    ("same deputy minister and partner country, two meetings", "seed:000", "seed:001"),
    ("North Korea and NATO, two articles", "seed:002", "seed:000"),
    ("Ukrainian defence ministry, two news items", "seed:004", "page:uk_milgovua_2022_08_07"),
    ("Ukrainian portals, two news items", "page:uk_epravda_2025_10_24", "page:uk_milgovua_2022_08_07"),
    ("the army and floods, two news items", "filler:254455", "filler:254101"),
    ("Czech defence ministry, two news items", "filler:254297", "filler:262190"),
    ("Ukrainian army, a rescue and a recruitment item", "filler:28512", "filler:28301"),
    ("floods, the Czech and the Ukrainian army", "filler:254101", "filler:28512"),
    ("one publisher's template, two articles", "gold:fundus/cz_SeznamZpravy_2025_04_08", "gold:fundus/cz_SeznamZpravy_2025_11_06"),
    ("one publisher's template, two articles", "gold:fundus/cz_SeznamZpravy_2025_11_06", "gold:fundus/cz_SeznamZpravy_2025_12_10"),
    ("war in Ukraine, one publisher", "gold:fundus/de_DW_2023_04_28", "gold:fundus/de_DW_2024_01_30"),
    ("NATO, two outlets", "gold:fundus/uk_BBC_2026_04_25", "gold:fundus/be_PoliticoEu_2025_10_23"),
    ("NATO and Ukraine, one publisher", "gold:fundus/uk_Metro_2024_07_17", "gold:fundus/uk_Metro_2024_11_29"),
    ("NATO and Russia, two French outlets", "gold:fundus/fr_LeFigaro_2024_11_22", "gold:fundus/fr_LesEchos_2024_07_18"),
    ("Russia, two German outlets", "gold:fundus/de_ZDF_2025_11_07", "gold:fundus/de_FAZ_2024_04_17"),
    ("one publisher's template, two articles", "gold:fundus/de_ZDF_2024_04_22", "gold:fundus/de_ZDF_2025_11_07"),
    ("same-day editions of one broadcaster, en and de", "gold:fundus/uk_EuronewsEN_2024_04_30",
     "gold:fundus/de_EuronewsDE_2024_04_30"),
    ("follow-up reusing one background paragraph", "seed:002",
     lambda t: {"title": "Severokorejští vojáci jsou v Kursku, tvrdí Kyjev",
                "text": "\n".join([FOLLOW_UP_CS[0], t["text"].split("\n")[1], *FOLLOW_UP_CS[1:]])}),
    ("templated daily report, next day's figures", "page:uk_milgovua_2022_08_07", renumber),
]


# --------------------------------------------------------------------------- build and evaluate


def build(corpus: Path) -> dict[str, object]:
    bases = Bases(corpus)
    texts: dict[str, dict[str, str]] = {}
    pairs: list[dict[str, object]] = []

    def add(name: str, text: Text, source: str) -> str:
        key = name
        suffix = 1
        while key in texts and (texts[key]["text"], texts[key]["title"]) != (text["text"], text["title"]):
            suffix += 1
            key = f"{name}~{suffix}"
        texts[key] = {**text, "source": source}
        return key

    for kind, base, edit in SAME:
        full = edit is None
        original, source = bases.get(base, full=full)
        a = add(base, original, source)
        if edit is None:
            other, other_source = bases.get(SAME_REAL[base], full=True)
            b = add(SAME_REAL[base], other, other_source)
        else:
            b = add(f"{base}+edit", edit(original), f"{source}, edited: {kind}")
        pairs.append({"a": a, "b": b, "same_story": True, "kind": kind})
    for kind, base, other in DIFFERENT:
        original, source = bases.get(base)
        a = add(base, original, source)
        if callable(other):
            b = add(f"{base}+edit", other(original), f"{source}, rewritten: {kind}")
        else:
            text, other_source = bases.get(other)
            b = add(other, text, other_source)
        pairs.append({"a": a, "b": b, "same_story": False, "kind": kind})
    return {
        "about": "Labelled near-duplicate pairs built by bench/neardup_pairs.py from the shared corpus and the seeds; "
                 "see that script for how each text was made. Page contents remain their publishers' copyright.",
        "texts": texts,
        "pairs": pairs,
    }


def sweep(data: dict[str, object]) -> str:
    texts: dict[str, dict[str, str]] = data["texts"]  # type: ignore[assignment]
    signatures = {key: signature(t["text"]) for key, t in texts.items()}
    scored = [(signatures[p["a"]].similarity(signatures[p["b"]]), p) for p in data["pairs"]]  # type: ignore[union-attr]
    lines = ["| similarity | label | kind |", "|---:|---|---|"]
    for value, pair in sorted(scored, key=lambda s: -s[0]):
        lines.append(f"| {value:.2f} | {'same' if pair['same_story'] else 'different'} | {pair['kind']} |")
    lines += ["", "| threshold | precision | recall |", "|---:|---:|---:|"]
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        predicted = [p for value, p in scored if value >= threshold]
        true = [p for p in predicted if p["same_story"]]
        positives = sum(1 for _, p in scored if p["same_story"])
        precision = len(true) / len(predicted) if predicted else 1.0
        lines.append(f"| {threshold:.1f} | {precision:.2f} | {len(true) / positives:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--write", action="store_true", help=f"rebuild {PAIRS_FILE.relative_to(ROOT)} from the corpus")
    args = parser.parse_args()
    if args.write:
        if not args.corpus.is_dir():
            print(f"corpus not found: {args.corpus}", file=sys.stderr)
            return 2
        data = build(args.corpus)
        PAIRS_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(data['pairs'])} pairs, {len(data['texts'])} texts to {PAIRS_FILE}")  # type: ignore[arg-type]
    data = json.loads(PAIRS_FILE.read_text(encoding="utf-8"))
    print(sweep(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
