"""The one string type of request fields: bounded, and without NUL characters, which Postgres
cannot store (an unchecked one would reach the database and fail there)."""

from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

MAX_TEXT = 4096  # fields narrow it with Field(max_length=...)


def _without_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "must not contain NUL characters")
    return value


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_without_nul)]
