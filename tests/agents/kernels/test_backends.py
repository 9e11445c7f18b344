"""The backends of each op are interchangeable modules: the same functions with the same
arguments, which the op's one autograd node (or its one dispatch) calls by name."""

import importlib
import inspect

import pytest

BACKENDS = {
    "linear_scan": (["torch_backend", "reference", "triton_backend"], ["gated_scan"]),
    "selective_scan": (["torch_backend", "cpu_backend", "triton_backend"], ["forward", "backward"]),
    "causal_conv": (["torch_backend", "cpu_backend"], ["forward", "backward"]),
}


@pytest.mark.parametrize("op", BACKENDS)
def test_every_backend_of_an_op_has_the_same_signature(op):
    modules, functions = BACKENDS[op]
    if "triton_backend" in modules and op == "selective_scan":
        pytest.importorskip("triton")
    loaded = [importlib.import_module(f"agents.kernels.{op}.{name}") for name in modules]
    for function in functions:
        signatures = {str(inspect.signature(getattr(module, function))) for module in loaded}
        assert len(signatures) == 1, f"{op}.{function}: {signatures}"
