"""Public ids: a prefix plus alphanumerics from a CSPRNG (`order_` + 16, as the contract says)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 16) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))
