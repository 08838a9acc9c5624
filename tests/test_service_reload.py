"""Hot reload: a running service picks up watchlist edits; a broken edit is reported and the last good one stays."""

from __future__ import annotations

from pathlib import Path

from hlidka.db import utcnow
from hlidka.fixtureweb import FixtureWeb
from hlidka.mailsink import MailSink
from support.running_service import (
    OPS_ADDRESS,
    database_of,
    finished_runs,
    operations_alerts,
    running_service,
    wait_until,
    write_service_config,
)

NEW_TERM = "Baltská hlídka"
#: Two different stories with the new term (the same text twice would be one story, alerted once).
STORIES = {
    "Spojenci zahájili operaci na ochranu kabelů": (
        "Spojenecká operace Baltská hlídka posílila ochranu podmořských kabelů v Baltském moři. "
        "Do operace Baltská hlídka se zapojí fregaty, hlídková letadla i námořní drony, uvedlo velení. "
        "Podle ministerstva jde o odpověď na poškození několika kabelů a plynovodu na dně moře v posledních "
        "měsících. Velitelství chce pravidelně vyhodnocovat pohyb lodí stínové flotily."
    ),
    "Fregaty míří do Baltu": (
        "Dvě fregaty a zásobovací loď vypluly z Kielu, aby posílily misi Baltská hlídka. "
        "Posádky budou v příštích týdnech střídat hlídky u finského pobřeží a u ostrova Gotland, kde vedou "
        "datové kabely do pobaltských států. Námořnictvo zároveň zkouší bezposádkové čluny, které mají "
        "hlásit podezřelé kotvení obchodních lodí. Ministr obrany ocenil rychlé nasazení."
    ),
}


def publish(web: FixtureWeb, title: str) -> str:
    return web.publish("mocr", {"title": title, "text": STORIES[title]})


def alerts_titled(mail: MailSink, title: str) -> list[str]:
    return [m.subject for m in mail.messages if title in m.subject]


def test_watchlist_edits_apply_without_restart_and_a_broken_edit_keeps_the_last_good_one(tmp_path: Path) -> None:
    with FixtureWeb() as web, MailSink() as mail:
        directory = write_service_config(tmp_path / "config", web, smtp=mail, sources=["mocr"], interval="3s")
        nato = directory / "watchlists" / "nato.yaml"
        original = nato.read_text(encoding="utf-8")
        anchor = "    - Severoatlantická smlouva  # Organizace Severoatlantické smlouvy\n"
        assert anchor in original
        with database_of(directory) as database, running_service(directory) as service:
            wait_until(lambda: finished_runs(database, "mocr"), what="the first crawl")

            nato.write_text(original.replace(anchor, anchor + f"    - {NEW_TERM}\n"), encoding="utf-8")
            wait_until(lambda: any(t.term == NEW_TERM for w in service.config.watchlists for t in w.any),
                       timeout=30, what="the edited watchlist to be in force")
            # A crawl uses the configuration in force when it starts: publish once one started after the edit.
            in_force = utcnow()
            wait_until(lambda: [r for r in finished_runs(database, "mocr") if r.started_at > in_force],
                       what="a crawl started under the edited watchlist")
            first = "Spojenci zahájili operaci na ochranu kabelů"
            publish(web, first)
            wait_until(lambda: alerts_titled(mail, first), what="an alert for the article the edit matches")

            nato.write_text(original.replace(anchor, anchor + f"    - {NEW_TERM}\n") + "min_hit: 2\n", encoding="utf-8")
            rejected = wait_until(lambda: [a for a in operations_alerts(database)
                                           if a.subject == "configuration change rejected"],
                                  timeout=30, what="an operations alert for the rejected edit")
            assert "nato.yaml" in (rejected[0].body or "") and "min_hit" in (rejected[0].body or "")
            wait_until(lambda: [m for m in mail.messages if OPS_ADDRESS in m.to and "rejected" in m.subject],
                       what="the rejection to reach the operations channel")

            second = "Fregaty míří do Baltu"
            publish(web, second)
            wait_until(lambda: alerts_titled(mail, second), what="an alert under the last good watchlist")
            assert any(t.term == NEW_TERM for w in service.config.watchlists for t in w.any)

            nato.write_text(original, encoding="utf-8")
            wait_until(lambda: [a for a in operations_alerts(database)
                                if a.subject == "configuration accepted again"], timeout=30,
                       what="a notice that the configuration is valid again")
            wait_until(lambda: not any(t.term == NEW_TERM for w in service.config.watchlists for t in w.any),
                       timeout=30, what="the reverted watchlist to be in force")
            assert len([a for a in operations_alerts(database) if a.subject == "configuration change rejected"]) == 1
