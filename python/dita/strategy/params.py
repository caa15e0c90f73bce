"""A strategy's parameters: a pydantic model (``NoParams`` for none), read by
``validate_params``, which refuses what the model would drop or misread (an unknown name, a
flag given for a number, NaN)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import AliasPath, BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def validate_params(model: type[BaseModel], params: Mapping[str, Any]) -> BaseModel:
    """``params`` as an instance of ``model``, refusing names the model does not declare.

    A model left at pydantic's default (``extra="ignore"``) would drop a misspelt name and
    run on the default; only a model that asks for extras (``extra="allow"``) gets them.
    Raises pydantic's ValidationError naming each unknown parameter and the known ones.
    """
    values = dict(params)
    if model.model_config.get("extra") != "allow":
        accepted_in_order = list(input_names(model))
        accepted = set(accepted_in_order)
        unknown = [name for name in values if name not in accepted]
        if unknown:
            # The names it takes: an aliased field's alias, not the field name it refuses.
            known = ", ".join(accepted_in_order)
            message = "unknown parameter; the parameters are {known}"
            if not known:
                message = "unknown parameter; this strategy takes no parameters"
            _refuse(model, values, unknown, "unknown_parameter", message, {"known": known})
    validated = model.model_validate(values)
    # Lax validation reads true and false as 1 and 0 for a number: `--param window=true` would
    # run with a window of 1, `levels=[0.5,true]` with levels of 0.5 and 1. Looked at after the
    # model's own validators: one may take a bool.
    flags = [
        key
        for key, name in input_names(model).items()
        if key in values and _read_as_a_number(getattr(validated, name, None), values[key])
    ]
    _refuse(model, values, flags, "number_type", "Input should be a number, not true or false")
    # NaN passes pydantic's default (allow_inf_nan) and compares false with everything: a
    # strategy given `--param entry_z=nan` would run and never trade. Infinity stays a value (a
    # bound never reached); a model or field that allows NaN itself (allow_inf_nan=True) gets it.
    nans = [
        key
        for key, name in input_names(model).items()
        if key in values and _holds_nan(getattr(validated, name, None)) and not _allows_nan(model, name)
    ]
    _refuse(model, values, nans, "finite_number", "Input should be a number, not NaN")
    return validated


def _refuse(
    model: type[BaseModel],
    values: Mapping[str, Any],
    keys: list[str],
    kind: str,
    said: str,
    context: dict[str, Any] | None = None,
) -> None:
    """Raise a ValidationError naming each parameter of ``keys`` with its input, when any."""
    if keys:
        error = PydanticCustomError(kind, said, context)
        raise ValidationError.from_exception_data(
            model.__name__, [{"type": error, "loc": (key,), "input": values[key]} for key in keys]
        )


def _holds_nan(value: object) -> bool:
    """Whether ``value`` is NaN, or a list, tuple, set or dict (its values) holding one."""
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nan(item) for item in value)
    return False


def _allows_nan(model: type[BaseModel], name: str) -> bool:
    """Whether field ``name`` of ``model`` asks for NaN itself (``allow_inf_nan=True`` on the
    field or the model, not pydantic's default)."""
    for meta in model.model_fields[name].metadata:
        allowed = getattr(meta, "allow_inf_nan", None)
        if allowed is not None:
            return bool(allowed)
    return model.model_config.get("allow_inf_nan") is True


def _read_as_a_number(value: object, given: object) -> bool:
    """Whether a parameter given as a flag came out as the number pydantic reads it as, or one
    given as a list, tuple or dict came out with such a number in a flag's place."""
    if isinstance(given, bool):
        return type(value) in (int, float) and value == int(given)
    if isinstance(given, list | tuple) and isinstance(value, list | tuple) and len(value) == len(given):
        return any(_read_as_a_number(v, g) for v, g in zip(value, given, strict=True))
    if isinstance(given, Mapping) and isinstance(value, Mapping):
        return any(k in value and _read_as_a_number(value[k], g) for k, g in given.items())
    return False


def input_names(model: type[BaseModel]) -> dict[str, str]:
    """The input names ``model`` reads, each to its field: a field's name (unless it has an
    alias and the model does not validate by name, when pydantic would drop it as an extra)
    and its aliases."""
    config = model.model_config
    by_name = bool(config.get("validate_by_name") or config.get("populate_by_name"))
    by_alias = config.get("validate_by_alias", True) is not False
    names: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias if field.validation_alias is not None else field.alias
        if alias is None or by_name:
            names[name] = name
        if alias is None or not by_alias:
            continue
        if isinstance(alias, str):
            names[alias] = name
        else:  # AliasPath or AliasChoices: the first key of each path
            paths = (
                [alias.convert_to_aliases()] if isinstance(alias, AliasPath) else alias.convert_to_aliases()
            )
            names.update((p[0], name) for p in paths if p and isinstance(p[0], str))
    return names
