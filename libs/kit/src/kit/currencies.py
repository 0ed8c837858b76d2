"""The currencies an order may be in: ISO 4217 codes that are legal tender somewhere today, with
their minor units, from the Unicode CLDR data Babel maintains (the ui shows amounts with the
same data). The minimum charge is one major unit in minor units: 100 for INR (₹1, the
contract's minimum), 100 for USD ($1), 1 for JPY (¥1), 1,000 for KWD."""

from datetime import date

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies


def _in_use(today: date) -> frozenset[str]:
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(codes)


IN_USE = _in_use(date.today())


def minor_digits(code: str) -> int:
    """Digits after the decimal point: 2 for INR (paise), 0 for JPY, 3 for KWD."""
    return int(get_currency_precision(code))


def minimum_charge(code: str) -> int:
    """The smallest amount an order may ask for, in the currency's minor units."""
    return int(10 ** minor_digits(code))
