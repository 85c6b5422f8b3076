import pytest

from shopfloor.kernel.errors import ShopfloorError
from shopfloor.platform.settings import DEMO_SECRET, load_settings


def test_refuses_to_start_without_a_secret_outside_demo(monkeypatch):
    monkeypatch.delenv("SHOPFLOOR_SECRET_KEY", raising=False)
    with pytest.raises(ShopfloorError, match="SHOPFLOOR_SECRET_KEY"):
        load_settings(demo=False).require_secret()


def test_refuses_the_demo_secret_and_short_secrets_outside_demo():
    for secret in (DEMO_SECRET, "short"):
        with pytest.raises(ShopfloorError):
            load_settings(demo=False, secret_key=secret).require_secret()


def test_demo_mode_gets_its_public_secret_and_env_is_read_when_built(monkeypatch):
    assert load_settings(demo=True).require_secret() == DEMO_SECRET
    monkeypatch.setenv("SHOPFLOOR_SITE", "plant-9")
    monkeypatch.setenv("SHOPFLOOR_SECRET_KEY", "x" * 32)
    settings = load_settings()
    assert settings.site == "plant-9"
    assert settings.require_secret() == "x" * 32
