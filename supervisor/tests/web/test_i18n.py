"""The message catalogues: same keys in every language, every key the pages use exists."""

from __future__ import annotations

import re
from pathlib import Path

from heatkeeper.core import alarms, modes, signals
from heatkeeper.supervisor.web import i18n, validation

WEB = Path(i18n.__file__).parent


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in (WEB / "templates").iterdir():
        keys |= set(re.findall(r"t\('([a-z0-9_.]+)'", path.read_text(encoding="utf-8")))
    for path in (WEB / "static").glob("*.js"):
        keys |= set(re.findall(r'HK\.t\("([a-z0-9_.]+)"', path.read_text(encoding="utf-8")))
    # keys built at run time from data the pages know
    keys |= {"cmd.kind." + k for k in validation.COMMAND_ARGS}
    keys |= {"cmd.state." + s for s in ("sent", "applied", "rejected", "timed_out", "expired")}
    keys |= {"mode." + m for m in validation.MODES}
    keys |= {"lease." + w for w in validation.CLEARABLE}
    keys |= {"role." + r for r in ("viewer", "operator", "admin")}
    keys |= {"sev." + s for s in ("info", "warning", "minor", "major", "alarm", "critical")}
    keys |= {"alarm." + row[0] for row in alarms.PROCESS_ALARMS}  # the station's alarm codes
    keys |= {"field." + name for name in signals.INPUTS}  # sensor_<signal> alarms name the signal
    keys |= {"mode." + name for name in modes.MODE_NAMES}
    for spec in validation.COMMAND_ARGS.values():
        keys |= {"arg." + a for a in spec}
    return {k for k in keys if not k.endswith(".")}


def test_catalogues_have_the_same_keys() -> None:
    cats = i18n.load_catalogues()
    assert set(cats["zh"]) == set(cats["en"])
    for lang, cat in cats.items():
        assert all(text.strip() for text in cat.values()), lang


def test_every_used_key_is_translated() -> None:
    cats = i18n.load_catalogues()
    for lang, cat in cats.items():
        missing = sorted(used_keys() - set(cat))
        assert missing == [], (lang, missing)


def test_placeholders_match_between_languages() -> None:
    cats = i18n.load_catalogues()
    for key, text in cats["en"].items():
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", cats["zh"][key])), key


def test_language_choice() -> None:
    assert i18n.normalise_lang("zh-CN") == "zh"
    assert i18n.normalise_lang("EN_us") == "en"
    assert i18n.normalise_lang("fr") is None
    assert i18n.lang_from_accept("fr-FR,fr;q=0.9,en;q=0.8") == "en"
    assert i18n.lang_from_accept("") is None
    t = i18n.Translator({"a": "x {n} y"}, "en")
    assert t("a", n=3) == "x 3 y" and t("missing.key") == "missing.key"
