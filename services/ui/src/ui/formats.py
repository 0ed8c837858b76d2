"""How money and times are shown: rupees with Indian digit grouping, local-looking timestamps."""

from datetime import datetime


def indian_grouping(whole: int) -> str:
    digits = str(abs(whole))
    if len(digits) <= 3:
        grouped = digits
    else:
        head, tail = digits[:-3], digits[-3:]
        pairs: list[str] = []
        while len(head) > 2:
            pairs.insert(0, head[-2:])
            head = head[:-2]
        grouped = ",".join([head, *pairs, tail]) if head else ",".join([*pairs, tail])
    return ("-" if whole < 0 else "") + grouped


def rupees(paise: int, decimals: bool = True) -> str:
    """`₹5,00,000` (decimals=False drops `.00`), `₹500.00`."""
    whole, fraction = divmod(paise, 100)
    text = "₹" + indian_grouping(whole)
    if decimals or fraction:
        text += f".{fraction:02d}"
    return text


def timestamp(value: str | None) -> str:
    """`2024-01-15T10:31:00Z` → `2024-01-15 10:31:00`."""
    if not value:
        return "—"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
