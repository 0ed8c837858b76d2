"""`.env.example` names every variable the settings classes read, and nothing they do not."""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

import merchants.settings
import orders.settings
import payments.settings
import refunds.settings
import ui.settings
import webhooks.settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: list[type[BaseSettings]] = [
    merchants.settings.Settings,
    merchants.settings.TestMerchantSettings,
    orders.settings.Settings,
    payments.settings.Settings,
    refunds.settings.Settings,
    webhooks.settings.Settings,
    ui.settings.Settings,
]
# Read by libraries or tools rather than by a settings class.
OUTSIDE_SETTINGS = {
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
    "CHROMIUM",
    "SCREENSHOTS_DIR",
}


def documented() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"^([A-Z][A-Z0-9_]*)=", line))}


def read_by_settings() -> set[str]:
    return {name.upper() for cls in SETTINGS for name in cls.model_fields}


def test_every_setting_is_documented() -> None:
    assert read_by_settings() - documented() == set()


def test_nothing_documented_is_unused() -> None:
    assert documented() - read_by_settings() - OUTSIDE_SETTINGS == set()
