"""How money and times are shown: amounts by their currency in the Indian English locale
(Babel's CLDR data: `₹5,00,000.00`, `$1,234.50`, `JP¥1,234`), times in UTC."""

import re
from datetime import UTC, datetime
from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency

from kit.currencies import minor_digits

LOCALE = Locale.parse("en_IN")
TIME_ZONE = "UTC"  # the API's timestamps; the contract's cells show them as they come
_WHOLE = re.sub(r"\.0+", "", LOCALE.currency_formats["standard"].pattern)  # ¤#,##,##0


def money(minor: int, currency: str = "INR", decimals: bool = True) -> str:
    """An amount in minor units (paise for INR) in its currency: `₹500.00`; with
    `decimals=False` a whole amount drops its zeros (`₹5,00,000`), a fraction is never hidden."""
    digits = minor_digits(currency)
    major = Decimal(minor).scaleb(-digits)
    if not decimals and minor % 10**digits == 0:
        return format_currency(major, currency, _WHOLE, LOCALE, currency_digits=False)
    return format_currency(major, currency, locale=LOCALE)


def minor_units(currency: str = "INR") -> str:
    """What the currency's minor unit is called in a form's label."""
    return "paise" if currency == "INR" else f"{currency} minor units"


def timestamp(value: str | None) -> str:
    """`2024-01-15T10:31:00Z` → `2024-01-15 10:31:00` (UTC, as the contract's cells show it)."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def timestamp_tz(value: str | None) -> str:
    """`2024-01-15 10:31:00 UTC`: a time outside the contract's cells, with its zone."""
    return f"{timestamp(value)} {TIME_ZONE}" if value else "—"
