"""A strategy's parameters: a pydantic model (``NoParams`` for none), read by
``validate_params``, which refuses what the model would drop or misread (an unknown name, a
field given two values under two names, a flag given for a number, NaN or infinity)."""

from __future__ import annotations

import dataclasses
import math
import types
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, NotRequired, Required, TypeVar, Union, get_args, get_origin, get_type_hints

import pydantic.dataclasses
from pydantic import AliasPath, BaseModel, ConfigDict, RootModel, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from typing_extensions import ReadOnly, is_typeddict

M = TypeVar("M", bound=BaseModel)
_ABSENT = object()  # no input at a place (None is an input)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def validate_params(model: type[BaseModel], params: Mapping[str, Any]) -> BaseModel:
    """``params`` as an instance of ``model``, refusing names the model does not declare.

    A model left at pydantic's default (``extra="ignore"``) would drop a misspelt name and
    run on the default; only a model that asks for extras (``extra="allow"``) gets them.
    A parameter that is itself a model, a dataclass or a TypedDict (``risk: Risk``, also inside
    a list or dict) is read with the same care, each error naming its path (``risk.stop_los``).
    Raises pydantic's ValidationError naming each unknown parameter and the known ones.
    """
    values = dict(params)
    unknown = _unknown_names(model, values, ())
    if unknown:
        raise ValidationError.from_exception_data(model.__name__, unknown)
    validated = model.model_validate(values)
    misread = _misread(model, validated, values, ())
    if misread:
        raise ValidationError.from_exception_data(model.__name__, misread)
    return validated


def _unknown_names(model: type[BaseModel], values: Mapping[str, Any], loc: tuple[Any, ...]) -> list[Any]:
    """An error for each name of ``values`` that ``model`` does not read, there or inside a key
    an ``AliasPath`` reads from, unless it asks for extras (``extra="allow"``); ``loc``: where
    ``values`` sit, () for the parameters."""
    if model.model_config.get("extra") == "allow" or _reshapes_input(model):
        return []
    accepted_in_order = list(input_names(model))
    accepted = set(accepted_in_order)
    unknown = [name for name in values if name not in accepted]
    inside = _unknown_names_inside_alias_paths(model, values, loc)
    if not unknown:
        return inside
    # The names it takes: an aliased field's alias, not the field name it refuses.
    known = ", ".join(accepted_in_order)
    if loc:
        message = "unknown name; {model} takes {known}"
    elif known:
        message = "unknown parameter; the parameters are {known}"
    else:
        message = "unknown parameter; this strategy takes no parameters"
    context = {"known": known, "model": model.__name__}
    return [
        _error("unknown_parameter", message, (*loc, name), values[name], context) for name in unknown
    ] + inside


def _unknown_names_inside_alias_paths(
    model: type[BaseModel], values: Mapping[str, Any], loc: tuple[Any, ...]
) -> list[Any]:
    """An error for each name in a mapping that ``model``'s ``AliasPath``s lead through
    (``settings`` of ``AliasPath("settings", "risk")``) that none of them reads: pydantic finds
    nothing at ``settings.risk`` for ``{"settings": {"rsk": 0.5}}`` and runs on the default."""
    paths = [path for name in model.model_fields for path in _lookup_paths(model, name)]
    whole = set(paths)  # each a field's input whole: what lies inside is its data, not names
    errors: list[Any] = []
    for through in dict.fromkeys(path[:i] for path in paths for i in range(1, len(path))):
        if any(through[:i] in whole for i in range(1, len(through) + 1)):
            continue
        read = list(dict.fromkeys(path[len(through)] for path in paths if path[: len(through)] == through))
        given = _input_at(values, through)
        if not isinstance(given, Mapping) or not all(isinstance(name, str) for name in read):
            continue  # a list's index, or a mapping read by index: no names to check
        place = ".".join(map(str, through))
        context = {"known": ", ".join(map(str, read)), "model": model.__name__, "place": place}
        said = "unknown name; {model} reads {known} in {place}"
        errors.extend(
            _error("unknown_parameter", said, (*loc, *through, name), given[name], context)
            for name in given
            if name not in read
        )
    return errors


def _misread(
    model: type[BaseModel], validated: object, values: Mapping[str, Any], loc: tuple[Any, ...]
) -> list[Any]:
    """An error for each input of ``values`` that ``validated`` (``model`` made of them) holds
    as pydantic misread it: a flag read as a number, NaN or infinity, a field given other values under
    its other names; and for each such input inside a model-typed input, at any depth, and
    each unknown name there. ``validated`` may be what ``model`` stands for (``_model_of``)."""
    errors: list[Any] = []
    for name in model.model_fields:
        value = validated.get(name) if isinstance(validated, dict) else getattr(validated, name, None)
        found = [
            (path, g) for path in _lookup_paths(model, name) if (g := _input_at(values, path)) is not _ABSENT
        ]
        if not found:
            continue
        # pydantic reads the field from the first of its places that holds an input.
        (path, given), *others = found
        errors.extend(_misread_field(model, name, value, given, (*loc, *path)))
        # It drops the others without a word: `--param stop=0.1 --param sl=0.2` ran with 0.1.
        for other_path, other in others:
            if not _same_input(given, other):
                said = "{field} is given twice, as {first} and as {second}: give it once"
                context = {
                    "field": name,
                    "first": _as_given(path, given),
                    "second": _as_given(other_path, other),
                }
                errors.append(_error("given_twice", said, (*loc, *other_path), other, context))
    return errors


def _same_input(given: object, other: object) -> bool:
    """Whether two inputs are equal (the same value given under two names)."""
    try:
        return bool(given == other)
    except Exception:  # an input whose == is not a truth value (an array): not told equal
        return False


def _as_given(path: tuple[Any, ...], given: object) -> str:
    """An input as an error names it: ``sl=0.2``, ``settings.risk=0.5``."""
    return f"{'.'.join(map(str, path))}={given!r}"


def _misread_field(
    model: type[BaseModel], name: str, value: object, given: object, at: tuple[Any, ...]
) -> list[Any]:
    """The errors of field ``name`` of ``model``, read as ``value`` from the input ``given``
    found at ``at``: a flag read as a number, NaN or infinity, and those inside (``_misread_inside``)."""
    errors: list[Any] = []
    declared = model.model_fields[name].annotation
    config = model.model_config
    reshaped = name in _reshaped_fields(model)
    inside = [] if reshaped else _misread_inside(value, given, at, declared, config)
    # What a TypedDict inside holds is told at its own place (`td.stop_loss`), not again here.
    told_inside = {error["type"].type for error in inside}
    # Lax validation reads true and false as 1 and 0 for a number: `--param window=true`
    # would run with a window of 1, `levels=[0.5,true]` with levels of 0.5 and 1. Looked at
    # after the model's own validators: one may take a bool.
    if "number_type" not in told_inside and _read_as_a_number(value, given, declared, config):
        errors.append(_error("number_type", "Input should be a number, not true or false", at, given))
    # NaN and infinity pass pydantic's default (allow_inf_nan): NaN compares false with
    # everything, and a threshold of infinity is never crossed (a typo, `1e400`, reads as one),
    # so a strategy given `--param entry_z=nan` would run and never trade. A model or field
    # that allows them itself gets them.
    found = _non_finite_held(value)
    if "finite_number" not in told_inside and found is not None and not _allows_non_finite(model, name):
        errors.append(_not_finite(found, at, given))
    return errors + inside


def _misread_inside(
    value: object, given: object, loc: tuple[Any, ...], declared: Any, config: ConfigDict
) -> list[Any]:
    """The errors of each model, dataclass or TypedDict in ``value`` (one, or a list, tuple or
    dict holding one) read from its input in ``given``: a mapping is checked as parameters are,
    an instance of the model for NaN and infinity (``non_finite_in``), anything else pydantic read by its own
    rules. A ``RootModel`` is read from its input whole, as its one field ``root``.
    ``declared``: the type ``value`` was read as, under the model's ``config``."""
    if isinstance(value, RootModel) and not isinstance(given, BaseModel):
        return _misread_field(type(value), "root", value.root, given, loc)
    if isinstance(given, Mapping) and (stand_in := _model_of(value, declared, config)) is not None:
        return _unknown_names(stand_in, given, loc) + _misread(stand_in, value, given, loc)
    if dataclasses.is_dataclass(given) and not isinstance(given, type):
        return _non_finite_in_models(value, loc, config)  # an instance: what can be seen on it
    if isinstance(value, BaseModel):
        if isinstance(given, Mapping):
            model = type(value)
            return _unknown_names(model, given, loc) + _misread(model, value, given, loc)
        if isinstance(given, BaseModel):
            return non_finite_in(given, loc)
        return []
    errors: list[Any] = []
    if (
        isinstance(value, list | tuple | deque)
        and isinstance(given, list | tuple)
        and len(value) == len(given)
    ):
        for i, (v, g) in enumerate(zip(value, given, strict=True)):
            errors.extend(_misread_inside(v, g, (*loc, i), _item_type(declared, i), config))
    elif isinstance(value, set | frozenset):
        for i, v, g, item_type in _set_items_as_read(given, declared, config):
            errors.extend(_misread_inside(v, g, (*loc, i), item_type, config))
    elif isinstance(value, Mapping) and isinstance(given, Mapping):
        key_type, value_type = _key_and_value_types(declared)
        read = _keys_as_read(given, key_type, config)
        alike = _keys_read_alike(read)
        if alike:
            # Two keys read as one ("1" and "01" as the int 1): pydantic keeps the last input's
            # entry and drops the other without a word.
            said = "Input should have distinct keys: {alike}, of which only the last entry is kept"
            errors.append(_error("distinct_keys", said, loc, given, {"alike": alike}))
        for k, v, g in _entries_with_inputs(value, given, read):
            errors.extend(_misread_inside(v, g, (*loc, k), value_type, config))
    return errors


def _model_of(value: object, declared: Any, config: ConfigDict) -> type[BaseModel] | None:
    """A model with the fields and config pydantic read ``value`` by (a dataclass, or a dict of
    the TypedDict ``declared``), to check its input as a model's; None for anything else, and
    for a kind whose fields cannot be told here or whose validators reshape its input (pydantic's
    reading stands). A stdlib dataclass or TypedDict without a config of its own is read under
    ``config``. Made once for each kind and config: a list of 10,000 dataclasses has one kind."""
    arm = _the_arm_of(declared, Mapping)
    if isinstance(value, dict) and arm is not None and is_typeddict(arm[0]):
        kind: Any = arm[0]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
    else:
        return None
    made = _STAND_INS.setdefault(kind, {})
    key = repr(config)
    if key not in made:
        made[key] = _stand_in(kind, config)
    return made[key]


# Each kind's stand-in, by the repr of the config it is read under; gone with the kind.
_STAND_INS: weakref.WeakKeyDictionary[Any, dict[str, type[BaseModel] | None]] = weakref.WeakKeyDictionary()


def _stand_in(kind: Any, config: ConfigDict) -> type[BaseModel] | None:
    """``_model_of`` a TypedDict or dataclass ``kind``, made from its fields as declared (never
    by making a pydantic dataclass of it, which a frozen one refuses)."""
    if _reshapes_input(kind):
        return None
    fields: dict[str, Any]
    try:
        if is_typeddict(kind):
            hints = get_type_hints(kind, include_extras=True)
            fields = {n: (_required_stripped(h), None) for n, h in hints.items()}
        elif pydantic.dataclasses.is_pydantic_dataclass(kind):
            fields = {n: (f.annotation, f) for n, f in kind.__pydantic_fields__.items()}
        else:
            hints = get_type_hints(kind, include_extras=True)
            fields = {
                f.name: (hints[f.name], f.default if isinstance(f.default, FieldInfo) else None)
                for f in dataclasses.fields(kind)
                if f.init
            }
        stand_in: type[BaseModel] = create_model(
            kind.__name__, __config__=getattr(kind, "__pydantic_config__", config), **fields
        )
        return stand_in
    except Exception:  # a type not resolvable here, a name a model cannot have (`_hidden`)
        return None


def _reshapes_input(kind: Any) -> bool:
    """Whether ``kind`` has a model validator that runs before its fields are read (``before``
    or ``wrap``): the names it is given may be ones the validator renames."""
    decorators = getattr(kind, "__pydantic_decorators__", None)
    if decorators is None:
        return False
    return any(d.info.mode in ("before", "wrap") for d in decorators.model_validators.values())


def _reshaped_fields(model: type[BaseModel]) -> set[str]:
    """The fields of ``model`` with a field validator that sees the input first (``before``,
    ``wrap`` or ``plain``): what lies inside the input is the validator's to read."""
    decorators = model.__pydantic_decorators__
    return {
        name
        for d in decorators.field_validators.values()
        if d.info.mode in ("before", "wrap", "plain")
        for name in (model.model_fields if "*" in d.info.fields else d.info.fields)
    }


def _required_stripped(hint: Any) -> Any:
    """A TypedDict field's type without ``Required``, ``NotRequired`` or ``ReadOnly``."""
    while get_origin(hint) in (Required, NotRequired, ReadOnly):
        hint = get_args(hint)[0]
    return hint


def _keys_as_read(given: Mapping[Any, Any], key_type: Any, config: ConfigDict) -> dict[Any, Any]:
    """Each key of ``given`` with the key pydantic reads it as for ``key_type`` under ``config``
    ("1" as 1 for int), or with itself where that cannot be told."""
    as_given = {k: k for k in given}
    if key_type is Any:
        return as_given
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(key_type, config=config)
        read = {k: adapter.validate_python(k) for k in given}
        hash(tuple(read.values()))
    except Exception:  # a key type or validator this reading cannot follow: keys as given
        return as_given
    return read


def _keys_read_alike(read: Mapping[Any, Any]) -> str:
    """The keys that ``read`` (given key to key read) reads as one, said for an error: ``'1' and
    '01' read as 1``; empty when each is read as its own."""
    by_read: dict[Any, list[Any]] = {}
    for k, r in read.items():
        by_read.setdefault(r, []).append(k)
    alike = [ks for ks in by_read.values() if len(ks) > 1]
    return "; ".join(f"{' and '.join(map(repr, ks))} read as {read[ks[0]]!r}" for ks in alike)


def _entries_with_inputs(
    value: Mapping[Any, Any], given: Mapping[Any, Any], read: Mapping[Any, Any]
) -> list[tuple[Any, Any, Any]]:
    """Each entry of ``value`` (a dict pydantic read from ``given``, each key read as ``read``
    says) with its given key and its input. An entry the model's validators added, a key they
    dropped and keys read as one are left out: no entry of ``value`` is surely theirs."""
    count: dict[Any, int] = {}
    for r in read.values():
        count[r] = count.get(r, 0) + 1
    return [(k, value[r], given[k]) for k, r in read.items() if count[r] == 1 and r in value]


def _arms(declared: Any) -> list[Any]:
    """The types ``declared`` allows: each arm of a union, without ``Annotated``'s metadata."""
    origin = get_origin(declared)
    if origin is Annotated:
        return _arms(get_args(declared)[0])
    if origin is Union or origin is types.UnionType:
        return [arm for a in get_args(declared) for arm in _arms(a)]
    return [declared]


def _the_arm_of(declared: Any, kind: type) -> tuple[Any, tuple[Any, ...]] | None:
    """The one arm of ``declared`` that is a ``kind`` (a subclass of it, text aside), with its
    type arguments; None when there is none or more than one to tell apart."""
    found = [
        (origin, get_args(arm))
        for arm in _arms(declared)
        for origin in [get_origin(arm) or arm]
        if isinstance(origin, type) and issubclass(origin, kind) and not issubclass(origin, str | bytes)
    ]
    return found[0] if len(found) == 1 else None


def _key_and_value_types(declared: Any) -> tuple[Any, Any]:
    """The key and value types of the dict type ``declared`` holds (``Any`` where unknown)."""
    arm = _the_arm_of(declared, Mapping)
    if arm is None or len(arm[1]) != 2:
        return Any, Any
    return arm[1][0], arm[1][1]


def _item_type(declared: Any, i: int) -> Any:
    """The type of item ``i`` of the list or tuple type ``declared`` holds (``Any`` where
    unknown)."""
    arm = _the_arm_of(declared, Sequence)
    if arm is None or not arm[1]:
        return Any
    origin, args = arm
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if origin is tuple:
        return args[i] if i < len(args) else Any
    return args[0]


def _set_items_as_read(given: object, declared: Any, config: ConfigDict) -> list[tuple[int, Any, Any, Any]]:
    """Each input of a set field (``given``, a list, tuple or set) with its place among the
    inputs, the item it reads as alone and the item type: a set keeps no input order, nor the
    inputs that read as one, so each input is read again by itself. An input that does not
    read alone (a validator of the whole set) is left out."""
    if not isinstance(given, list | tuple | set | frozenset):
        return []
    arm = _the_arm_of(declared, AbstractSet)
    item_type = arm[1][0] if arm is not None and arm[1] else Any
    adapter: TypeAdapter[Any]
    try:
        adapter = TypeAdapter(item_type, config=config)
    except Exception:  # a model or dataclass with a config of its own takes no other
        adapter = TypeAdapter(item_type)
    items = []
    for i, g in enumerate(given):
        try:
            items.append((i, adapter.validate_python(g), g, item_type))
        except Exception:  # pydantic took the set whole; this reading of one input cannot
            continue
    return items


def non_finite_in(instance: BaseModel, loc: tuple[Any, ...] = ()) -> list[Any]:
    """An error for each field given to ``instance`` holding NaN or infinity (alone, in a list,
    tuple, set or dict, or in a model- or dataclass-typed field at any depth), unless the field or
    its model allows them: what can be checked on an instance of a model, whose flags are already
    read as numbers."""
    return _non_finite_in(type(instance), instance, loc)


def _non_finite_in(model: type[BaseModel], instance: object, loc: tuple[Any, ...]) -> list[Any]:
    """``non_finite_in`` of ``instance``, read by the fields of ``model`` (its own, or its
    stand-in's: ``_model_of``)."""
    errors: list[Any] = []
    given = _fields_given(model, instance)
    for name in model.model_fields:
        if name not in given:
            continue
        value = getattr(instance, name, None)
        at = loc if isinstance(instance, RootModel) else (*loc, name)  # its input is its root
        found = _non_finite_held(value)
        if found is not None and not _allows_non_finite(model, name):
            errors.append(_not_finite(found, at, value))
        errors.extend(_non_finite_in_models(value, at, model.model_config))
    return errors


def _fields_given(model: type[BaseModel], instance: object) -> set[str]:
    """The fields of ``instance`` (read by ``model``'s) given when it was made: a field left at
    its default holds what the strategy's author chose, as in a dict left without it. A model
    keeps the fields set; a dataclass does not, so its fields holding their default are left out."""
    if isinstance(instance, BaseModel):
        return instance.model_fields_set
    defaults = _dataclass_defaults(type(instance)) if dataclasses.is_dataclass(instance) else {}
    return {
        name
        for name in model.model_fields
        if name not in defaults or not _is_default(getattr(instance, name, None), defaults[name])
    }


def _dataclass_defaults(kind: Any) -> dict[str, Any]:
    """The default of each field of the dataclass ``kind`` that has one (a factory's made once)."""
    if kind not in _DEFAULTS:
        declared: dict[str, FieldInfo] = getattr(kind, "__pydantic_fields__", {})  # a pydantic dataclass
        defaults: dict[str, Any] = {}
        for f in dataclasses.fields(kind):
            info = declared.get(f.name, f.default if isinstance(f.default, FieldInfo) else None)
            try:
                if isinstance(info, FieldInfo):
                    if not info.is_required():
                        defaults[f.name] = info.get_default(call_default_factory=True)
                elif f.default is not dataclasses.MISSING:
                    defaults[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    defaults[f.name] = f.default_factory()
            except Exception:  # a factory of the other fields' values: the field counts as given
                continue
        _DEFAULTS[kind] = defaults
    return _DEFAULTS[kind]


# Each dataclass kind's field defaults; gone with the kind.
_DEFAULTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _is_default(value: object, default: object) -> bool:
    """Whether ``value`` is ``default`` or equals it (NaN is its default only as the same object)."""
    if value is default:
        return True
    try:
        return bool(value == default)
    except Exception:  # an array's == is no truth value: compared as given
        return False


def _non_finite_in_models(value: object, loc: tuple[Any, ...], config: ConfigDict) -> list[Any]:
    """``non_finite_in`` of each model or dataclass in ``value`` (one, or a list, tuple or dict
    holding one); ``config``: the one a stdlib dataclass without its own is read under."""
    if isinstance(value, BaseModel):
        return non_finite_in(value, loc)
    if (stand_in := _model_of(value, None, config)) is not None:
        return _non_finite_in(stand_in, value, loc)
    errors: list[Any] = []
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            errors.extend(_non_finite_in_models(item, (*loc, i), config))
    elif isinstance(value, Mapping):
        for k, item in value.items():
            errors.extend(_non_finite_in_models(item, (*loc, k), config))
    return errors


def check_params_instance(instance: M) -> M:
    """``instance`` (of a strategy's ``Params``) when it holds no NaN or infinity where its model
    does not allow them (``non_finite_in``); else pydantic's ValidationError naming each such
    field's path."""
    errors = non_finite_in(instance)
    if errors:
        raise ValidationError.from_exception_data(type(instance).__name__, errors)
    return instance


def _error(
    kind: str, said: str, loc: tuple[Any, ...], given: object, context: dict[str, Any] | None = None
) -> Any:
    """One line of a ValidationError: ``said`` of the input ``given`` at ``loc``."""
    return {"type": PydanticCustomError(kind, said, context), "loc": loc, "input": given}


def _non_finite_held(value: object) -> float | None:
    """The first NaN or infinity ``value`` is, or holds in a list, tuple, set or dict (its
    values); None when it holds none."""
    if isinstance(value, float):
        return None if math.isfinite(value) else value
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            found = _non_finite_held(item)
            if found is not None:
                return found
    return None


def _not_finite(found: float, loc: tuple[Any, ...], given: object) -> Any:
    """The error of the input ``given`` at ``loc``, read as (or holding) ``found``, NaN or an infinity."""
    said = "NaN" if math.isnan(found) else "infinity" if found > 0 else "-infinity"
    return _error("finite_number", f"Input should be a number, not {said}", loc, given)


def _allows_non_finite(model: type[BaseModel], name: str) -> bool:
    """Whether field ``name`` of ``model`` asks for NaN and infinity itself (``allow_inf_nan=True``
    on the field or the model, not pydantic's default)."""
    for meta in model.model_fields[name].metadata:
        allowed = getattr(meta, "allow_inf_nan", None)
        if allowed is not None:
            return bool(allowed)
    return model.model_config.get("allow_inf_nan") is True


def _read_as_a_number(value: object, given: object, declared: Any, config: ConfigDict) -> bool:
    """Whether a parameter given as a flag came out as the number pydantic reads it as, or one
    given as a list, tuple or dict came out with such a number in a flag's place; ``declared``
    and ``config`` as for ``_misread_inside``."""
    if isinstance(given, bool):
        # An IntEnum member is an int: `tier=true` read as Tier(1).
        return isinstance(value, int | float) and not isinstance(value, bool) and value == int(given)
    if (
        isinstance(given, list | tuple)
        and isinstance(value, list | tuple | deque)
        and len(value) == len(given)
    ):
        return any(
            _read_as_a_number(v, g, _item_type(declared, i), config)
            for i, (v, g) in enumerate(zip(value, given, strict=True))
        )
    if isinstance(value, set | frozenset):
        return any(
            _read_as_a_number(v, g, t, config) for _, v, g, t in _set_items_as_read(given, declared, config)
        )
    if isinstance(given, Mapping) and isinstance(value, Mapping):
        key_type, value_type = _key_and_value_types(declared)
        read = _keys_as_read(given, key_type, config)
        return any(
            _read_as_a_number(v, g, value_type, config)
            for _, v, g in _entries_with_inputs(value, given, read)
        )
    return False


def input_names(model: type[BaseModel]) -> dict[str, str]:
    """The input names ``model`` reads, each to its field: a field's name (unless it has an
    alias and the model does not validate by name, when pydantic would drop it as an extra)
    and its aliases (an ``AliasPath``'s first key)."""
    names: dict[str, str] = {}
    for name in model.model_fields:
        paths = _lookup_paths(model, name)
        for path in sorted(paths, key=lambda p: p != (name,)):  # the field's name first
            if isinstance(path[0], str):
                names[path[0]] = name
    return names


def _lookup_paths(model: type[BaseModel], name: str) -> list[tuple[str | int, ...]]:
    """Where in its input ``model`` reads field ``name``, in the order pydantic looks: each
    alias (an ``AliasPath`` a path of keys and indexes), then the name when the model
    validates by name or the field has no alias."""
    config = model.model_config
    field = model.model_fields[name]
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    paths: list[tuple[str | int, ...]] = []
    if alias is not None and config.get("validate_by_alias", True) is not False:
        if isinstance(alias, str):
            paths.append((alias,))
        elif isinstance(alias, AliasPath):
            paths.append(tuple(alias.convert_to_aliases()))
        else:  # AliasChoices
            paths.extend(tuple(p) for p in alias.convert_to_aliases())
    if alias is None or config.get("validate_by_name") or config.get("populate_by_name"):
        paths.append((name,))
    return paths


def _input_at(values: Mapping[str, Any], path: tuple[str | int, ...]) -> object:
    """The input at ``path`` in ``values`` as pydantic finds it (each key or index taken from
    what the one before gave, never from text), or ``_ABSENT``."""
    given: object = values
    for item in path:
        if isinstance(given, str):
            return _ABSENT
        try:
            given = given[item]  # type: ignore[index]
        except Exception:  # pydantic takes any failed lookup as no input there
            return _ABSENT
    return given
