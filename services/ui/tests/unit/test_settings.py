"""The UI's settings: production refuses to start without a CSRF key and uses secure cookies."""

import pytest
from pydantic import ValidationError

from ui.settings import Settings

SECRET = "k3Jd9-csrf-secret-of-forty-characters-x"


def test_production_needs_a_csrf_secret_and_defaults_to_secure_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ENVIRONMENT", "SECURE_COOKIES", "CSRF_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="CSRF_SECRET must be set"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="dev", csrf_secret="short")
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


@pytest.mark.parametrize("secret", ["s" * 32, "dev-csrf-secret-for-local-clusters-only", "ab" * 20])
def test_production_refuses_a_development_or_example_csrf_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="CSRF_SECRET is a development or example value"):
        Settings(environment="production", csrf_secret=secret)
    assert Settings(environment="dev", csrf_secret=secret)  # development takes what it is given


def test_the_ui_is_told_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="ENVIRONMENT must be set"):
        Settings()
