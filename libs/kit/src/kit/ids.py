"""Public ids: a prefix plus alphanumerics from a CSPRNG (`order_` + 16, as the contract says)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
_UNBIASED = 256 - 256 % len(ALPHABET)  # bytes at or above this would favour some characters


def new_id(prefix: str, length: int = 16) -> str:
    chars: list[str] = []
    while len(chars) < length:
        randoms = secrets.token_bytes(length * 2)
        chars.extend(ALPHABET[b % len(ALPHABET)] for b in randoms if b < _UNBIASED)
    return prefix + "".join(chars[:length])
