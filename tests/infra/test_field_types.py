"""infra/field_types.py: what each annotation accepts, the words for it, and a clear error for
an annotation it does not understand."""

import dataclasses
import typing
from pathlib import Path

import pytest

from agents import BACKBONES, DecisionModelConfig
from infra.errors import ConfigError
from infra.field_types import check_values, describe, fits, from_plain
from suite.spec import Suite
from training.config import Args


@pytest.mark.parametrize("annotation", [list[int], set[str], typing.Any, typing.Callable])
def test_an_unsupported_annotation_is_named(annotation):
    for use in (lambda: fits([1], annotation), lambda: describe(annotation)):
        with pytest.raises(TypeError, match="^unsupported annotation: "):
            use()
    with pytest.raises(TypeError, match=r"^unsupported annotation: list\[int\]$"):
        fits([1], list[int])


def test_a_dicts_keys_and_values_are_checked():
    assert fits({"a": 1}, dict[str, int])
    assert not fits({"a": "x"}, dict[str, int])
    assert not fits({1: 1}, dict[str, int])
    assert not fits([("a", 1)], dict[str, int])
    assert fits({1: object()}, dict)  # a bare dict: any keys and values
    assert describe(dict[str, int]) == "a dict of str to int"


def test_a_fixed_length_tuple_is_checked_by_position():
    assert fits((1, 2.5), tuple[int, float])
    assert fits((1, 2), tuple[int, float])  # an int is a float
    assert not fits((2.5, 1), tuple[int, float])
    assert not fits((1,), tuple[int, float]) and not fits((1, 2.5, 3), tuple[int, float])
    assert fits((1, 2, 3), tuple[int, ...]) and not fits((1, "2"), tuple[int, ...])
    assert describe(tuple[int, float]) == "a list of (int, float)"
    assert describe(tuple[int, ...]) == "a list of int"


def test_from_plain_reads_tuples_by_position_and_dict_values():
    assert from_plain(tuple[int, Path], [1, "x"]) == (1, Path("x"))
    assert from_plain(tuple[Path, ...], ["a", "b"]) == (Path("a"), Path("b"))
    assert from_plain(dict[str, Path], {"a": "x"}) == {"a": Path("x")}
    assert from_plain(tuple[int, Path], [1, "x", 2]) == (1, "x", 2)  # for the check to refuse


def test_a_wrong_dict_value_is_one_line_naming_the_field():
    @dataclasses.dataclass
    class Weights:
        weights: dict[str, int]

    with pytest.raises(ConfigError) as refused:
        check_values(Weights, {"weights": {"a": "x"}})
    message = "weights: got {'a': 'x'} (dict), expected a dict of str to int"
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "config", [Args, Suite, DecisionModelConfig, *BACKBONES.values()], ids=lambda c: c.__name__
)
def test_every_config_field_in_use_is_understood(config):
    hints = typing.get_type_hints(config, include_extras=True)
    for field in dataclasses.fields(config):
        assert describe(hints[field.name])
        if field.default is not dataclasses.MISSING:
            assert fits(field.default, hints[field.name]), field.name
