"""The UI's settings: production refuses to start without a CSRF key and uses secure cookies."""

import pytest
from pydantic import ValidationError

from ui.settings import Settings

SECRET = "s" * 32


def test_production_needs_a_csrf_secret_and_defaults_to_secure_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ENVIRONMENT", "SECURE_COOKIES", "CSRF_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="CSRF_SECRET must be set"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(csrf_secret="short")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CSRF_SECRET", SECRET)
    assert Settings().secure_cookies is True
    monkeypatch.setenv("SECURE_COOKIES", "false")
    assert Settings().secure_cookies is False
    monkeypatch.delenv("SECURE_COOKIES")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.delenv("CSRF_SECRET")
    first, second = Settings(), Settings()
    assert first.secure_cookies is False
    assert first.csrf_secret.get_secret_value() != second.csrf_secret.get_secret_value()
