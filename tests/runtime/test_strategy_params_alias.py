"""validate_params on a lax model with an alias: the field name pydantic would drop is refused."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from dita.strategy import validate_params


def test_a_lax_model_with_an_alias_does_not_drop_the_field_name() -> None:
    class Lax(BaseModel):
        window: int = Field(default=5, alias="w")

    assert validate_params(Lax, {"w": 9}).window == 9  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="unknown parameter"):
        validate_params(Lax, {"window": 9})
