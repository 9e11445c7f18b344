"""Checking a dataclass's values against its field annotations, so that every way of making a
config (command line, suite file, JSON, Python call) refuses the same wrong types with the same
one-line message. tyro converts command-line text to these types; a TOML or JSON file or a
Python caller hands values in as they are, and this is their check.

Understood annotations: bool, int, float (an int is accepted), str, Path, Literal[...],
tuple[X, ...], tuple[X, Y] (checked by position), dict and dict[K, V], unions (X | None),
Annotated[X, ...], and dataclasses. Any other (list[int] among them: configs hold tuples, which
frozen dataclasses can hash) raises TypeError("unsupported annotation: list[int]")."""

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from collections.abc import Callable
from pathlib import Path

from infra.errors import ConfigError


def check_field_types(instance, name_of: Callable[[str], str] = str) -> None:
    """Raise ConfigError naming the first field whose value does not fit its annotation:
    "learning_rate: got 'x' (str), expected a float"; `name_of` turns a field's name into the
    name its user knows (a flag, a key)."""
    check_values(
        type(instance),
        {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)},
        name_of,
    )


def check_values(cls, values: dict, name_of: Callable[[str], str] = str) -> None:
    """check_field_types for values meant for fields of the dataclass `cls` (a mapping read
    from a file, before the instance is made)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for name, value in values.items():
        if not fits(value, hints[name]):
            raise ConfigError(
                f"{name_of(name)}: got {value!r} ({type(value).__name__}), "
                f"expected {describe(hints[name])}"
            )


def fits(value, annotation) -> bool:
    """Whether `value` is of the type `annotation` describes. Raises TypeError naming an
    annotation this module does not understand (a field's type to fix, not a user's value)."""
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(
            value == choice and type(value) is type(choice) for choice in annotation.__args__
        )
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in annotation.__args__)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        elements = _tuple_elements(annotation, len(value))
        return elements is not None and all(map(fits, value, elements))
    if origin is dict:
        key, item = annotation.__args__
        return isinstance(value, dict) and all(
            fits(k, key) and fits(v, item) for k, v in value.items()
        )
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if _is_class(annotation):  # str, Path, dict, a dataclass
        return isinstance(value, annotation)
    raise TypeError(f"unsupported annotation: {_name(annotation)}")


def describe(annotation) -> str:
    """The type in words: "a float", "an int", "one of 'lin', 'inv'", "a list of int or none",
    "a list of (int, float)", "a dict of str to int"."""
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in annotation.__args__)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(option) for option in annotation.__args__)
    if origin is tuple and annotation.__args__[-1:] == (...,):
        return f"a list of {_bare(annotation.__args__[0])}"
    if origin is tuple:
        return f"a list of ({', '.join(_bare(element) for element in annotation.__args__)})"
    if origin is dict:
        key, item = annotation.__args__
        return f"a dict of {_bare(key)} to {_bare(item)}"
    if annotation is type(None):
        return "none"
    if not _is_class(annotation):
        raise TypeError(f"unsupported annotation: {_name(annotation)}")
    name = annotation.__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _tuple_elements(annotation, length: int) -> tuple | None:
    """The annotation of each of `length` items under tuple[X, ...] or, by position, under
    tuple[X, Y]; None where the fixed length is another."""
    arguments = annotation.__args__
    if arguments[-1:] == (...,):
        return (arguments[0],) * length
    return arguments if length == len(arguments) else None


def _bare(annotation) -> str:
    """describe() without its article: "int", "list of str"."""
    return describe(annotation).removeprefix("a ").removeprefix("an ")


def _name(annotation) -> str:
    """An annotation as it is written: "list[int]", "int", "typing.Any"."""
    return annotation.__name__ if _is_class(annotation) else str(annotation)


def _is_class(annotation) -> bool:
    """A plain class (not list[int], and not typing.Any, which is a class since Python 3.11)."""
    return (
        isinstance(annotation, type)
        and typing.get_origin(annotation) is None
        and annotation is not typing.Any
    )


def _unwrapped(annotation):
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    return annotation


def field_docstrings(cls) -> dict[str, str]:
    """The docstring under each field of the dataclass `cls` (the convention tyro reads for
    --help), as one line: {name: text}."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for statement, following in zip(body, body[1:], strict=False):
        is_docstring = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if isinstance(statement, ast.AnnAssign) and is_docstring:
            docs[statement.target.id] = " ".join(str(following.value.value).split())
    return docs


def from_plain(annotation, value):
    """`value` read from JSON (dicts, lists, numbers, strings) as the type `annotation`
    describes: dataclasses rebuilt field by field, lists into tuples, text into paths. The
    inverse of dataclasses.asdict for the annotations check_field_types understands."""
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        return annotation(**{name: from_plain(hints[name], item) for name, item in value.items()})
    if origin in (typing.Union, types.UnionType):
        options = [option for option in annotation.__args__ if option is not type(None)]
        return None if value is None else from_plain(options[0], value)
    if origin is tuple:
        elements = _tuple_elements(annotation, len(value))
        if elements is None:  # a wrong length, left for the check to refuse
            return tuple(value)
        return tuple(map(from_plain, elements, value))
    if origin is dict:
        return {key: from_plain(annotation.__args__[1], item) for key, item in value.items()}
    if annotation is Path:
        return Path(value)
    return value


def to_plain(value):
    """A field's value as JSON holds it: paths as text, tuples as lists (from_plain's inverse
    for the values of a flat dataclass)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [to_plain(item) for item in value]
    return value
