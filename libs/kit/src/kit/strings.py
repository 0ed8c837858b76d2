"""The one string type of request fields: bounded, and without NUL characters, which Postgres
cannot store (an unchecked one would reach the database and fail there)."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from pydantic_core import PydanticCustomError

MAX_TEXT = 4096  # fields narrow it with Field(max_length=...)


def _without_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "must not contain NUL characters")
    return value


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_without_nul)]


NoteValue = (
    Annotated[Text, Field(max_length=512)]
    | StrictInt
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)
# A merchant's own key-value notes on an order, payment or refund (Razorpay's `notes`, Stripe's
# `metadata`): at most 15 keys of up to 256 characters, values up to 512.
Notes = Annotated[
    dict[Annotated[Text, Field(max_length=256)], NoteValue],
    Field(max_length=15, description="Up to 15 keys of your own (values up to 512 characters)"),
]


class NotesUpdate(BaseModel):
    """`POST /api/v1/{orders|payments|refunds}/{id}`: the object's new notes, whole."""

    model_config = ConfigDict(extra="forbid")

    notes: Notes | None
