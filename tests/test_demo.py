"""``hlidka demo`` runs offline and shows the whole path, ending with only the new article alerting."""

import subprocess
import sys


def test_demo_delivers_alerts_then_only_the_new_article() -> None:
    result = subprocess.run([sys.executable, "-m", "hlidka", "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    first, second = out.split("2. Published one new article:")
    assert "alert e-mails arrived" in first and first.count("✉ [") >= 5
    assert "1 new alert e-mail(s) — only the new article" in second
    assert second.count("✉ [") == 1
    assert "Ministr obrany jednal v Soulu" in second
    assert "Demo finished in" in out
