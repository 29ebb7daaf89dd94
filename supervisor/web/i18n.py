"""Message catalogues (one JSON file per language in static/i18n) and language choice.

Every UI string lives in a catalogue; templates call `t(key)` and scripts read the same
catalogue from the page. A missing key shows the key itself, so a gap is visible, never a
crash; a test keeps the catalogues' key sets equal.
"""

from __future__ import annotations

import json
from pathlib import Path

CATALOGUE_DIR = Path(__file__).parent / "static" / "i18n"
LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"


def load_catalogues() -> dict[str, dict[str, str]]:
    """{lang: {key: text}} for every language in LANGUAGES."""
    out: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        with open(CATALOGUE_DIR / ("%s.json" % lang), encoding="utf-8") as fh:
            data = json.load(fh)
        out[lang] = {str(k): str(v) for k, v in data.items()}
    return out


def normalise_lang(value: str | None) -> str | None:
    """A supported language code for `value` ("zh-CN" -> "zh"), or None."""
    if not value:
        return None
    code = value.strip().lower().split("-")[0].split("_")[0]
    return code if code in LANGUAGES else None


def lang_from_accept(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by the order given."""
    if not header:
        return None
    for part in header.split(","):
        lang = normalise_lang(part.split(";")[0])
        if lang:
            return lang
    return None


class Translator:
    """`t(key, **params)` for one language; params fill `{name}` placeholders."""

    def __init__(self, catalogue: dict[str, str], lang: str) -> None:
        self.catalogue = catalogue
        self.lang = lang

    def __call__(self, key: str, **params: object) -> str:
        text = self.catalogue.get(key, key)
        for name, value in params.items():
            text = text.replace("{" + name + "}", str(value))
        return text
