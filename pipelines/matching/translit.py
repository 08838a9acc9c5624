"""Ukrainian Cyrillic → Latin, by the official 2010 national system (KMU resolution 55).

Czech and English articles write Ukrainian names in Latin letters. A term
marked ``translit: true`` (``Умєров``) therefore also matches its romanised
form (``Umierov``). The national system is what Ukrainian institutions and
passports use; press spellings that differ (``Umerov``) must be written as
terms of their own — no single table predicts them.
"""

from __future__ import annotations

_ANYWHERE = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "y", "і": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ь": "", "'": "", "’": "", "ʼ": "",
    # Letters of Russian spellings that turn up in Ukrainian text.
    "ё": "io", "ы": "y", "э": "e", "ъ": "",
}
#: Letters romanised differently at the start of a word than inside it.
_WORD_START = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}
_INSIDE = {"є": "ie", "ї": "i", "й": "i", "ю": "iu", "я": "ia"}


def transliterate(text: str) -> str:
    """Romanise every Cyrillic letter; other characters pass through unchanged."""
    out: list[str] = []
    previous = ""
    for char in text:
        lower = char.lower()
        at_start = not previous or (not previous.isalpha() and previous not in "'’ʼ")
        if lower == "г" and previous.lower() == "з":
            latin = "gh"  # зг → zgh, so that it is not read as the letter ж (zh)
        elif lower in _WORD_START:
            latin = _WORD_START[lower] if at_start else _INSIDE[lower]
        else:
            latin = _ANYWHERE.get(lower, char)
        out.append(latin.capitalize() if char.isupper() and latin else latin)
        previous = char
    return "".join(out)
