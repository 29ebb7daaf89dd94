"""The dashboard's own [web] keys pass through the supervisor config, and their problems are
listed together with every other problem of the file."""

import pytest
from heatkeeper.supervisor import config


def test_dashboard_keys_are_accepted() -> None:
    cfg = config.validate({"web": {"port": 8081, "refresh_s": 2.0, "default_lang": "en",
                                   "collector_tokens": {"vendor-a": {"token": "x" * 24, "collectors": ["va-*"]}}}})
    assert cfg["web"]["refresh_s"] == 2.0
    assert cfg["web"]["default_lang"] == "en"
    assert cfg["web"]["collector_tokens"] == {"vendor-a": {"token": "x" * 24, "collectors": ["va-*"]}}


def test_bad_dashboard_keys_are_listed_with_the_rest() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.validate({"web": {"refresh_s": 0.0, "default_lang": "fr", "nonsense": 1},
                         "storage": {"backend": "oracle"}})
    text = "\n".join(info.value.problems)
    assert "web.refresh_s=0.0" in text
    assert "web.default_lang='fr'" in text
    assert "web.nonsense: unknown key" in text
    assert "storage.backend='oracle'" in text
