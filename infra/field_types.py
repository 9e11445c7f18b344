"""Checking a dataclass's values against its field annotations, so that every way of making a
config (command line, suite file, JSON, Python call) refuses the same wrong types with the same
one-line message. tyro converts command-line text to these types; a TOML or JSON file or a
Python caller hands values in as they are, and this is their check.

Understood annotations: bool, int, float (an int is accepted), str, Path, Literal[...],
tuple[X, ...], dict, unions (X | None), Annotated[X, ...], and dataclasses."""

import dataclasses
import types
import typing
from pathlib import Path

from infra.errors import ConfigError


def check_field_types(instance, prefix: str = "") -> None:
    """Raise ConfigError naming the first field whose value does not fit its annotation:
    "learning_rate: got 'x' (str), expected a float". `prefix` is put before field names."""
    hints = typing.get_type_hints(type(instance), include_extras=True)
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        annotation = hints[field.name]
        if not fits(value, annotation):
            raise ConfigError(
                f"{prefix}{field.name}: got {value!r} ({type(value).__name__}), "
                f"expected {describe(annotation)}"
            )


def fits(value, annotation) -> bool:
    """Whether `value` is of the type `annotation` describes."""
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(
            value == choice and type(value) is type(choice) for choice in annotation.__args__
        )
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in annotation.__args__)
    if origin is tuple:
        element = annotation.__args__[0]
        return isinstance(value, tuple) and all(fits(item, element) for item in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is Path:
        return isinstance(value, Path)
    return isinstance(value, annotation)


def describe(annotation) -> str:
    """The type in words: "a float", "an int", "one of 'lin', 'inv'", "a list of int or none"."""
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in annotation.__args__)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(option) for option in annotation.__args__)
    if origin is tuple:
        element = describe(annotation.__args__[0]).removeprefix("a ").removeprefix("an ")
        return f"a list of {element}"
    if annotation is type(None):
        return "none"
    name = getattr(annotation, "__name__", str(annotation))
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _unwrapped(annotation):
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    return annotation
