"""Writing a PolicyStep as a file that runs without this toolkit: an ONNX graph (for ONNX
Runtime) or a torch.export program (.pt2), each with the metadata a caller needs to drive it.

Both come from one torch.export trace with a dynamic batch size. The graph's inputs are
`observation` (B, obs_dim) float32, `return_to_go` (B, 1) float32, `timestep` (B,) int64 and
`state.<name>`; its outputs are `action` (B, act_dim) and `next_state.<name>`.
"""

import json
import logging
import subprocess
import warnings
from importlib import metadata as package_metadata
from pathlib import Path

import torch

from envs.policy_step import PolicyStep
from infra.atomic_files import atomic_write

INPUT_NAMES = ("observation", "return_to_go", "timestep")
# The one example batch the trace runs on; the batch dimension stays symbolic (torch.export
# specialises sizes 0 and 1, so the example uses 2).
_EXAMPLE_BATCH = 2


def toolkit_version() -> str:
    try:
        return package_metadata.version("decision-backbones")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def toolkit_commit() -> str:
    """The commit this checkout is at, or "unknown" outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def policy_metadata(step: PolicyStep, **entries) -> dict[str, str]:
    """The file's metadata: `entries` (env_id, dataset, backbone, target_return, ...), the
    toolkit's version and commit, the state layout as JSON, all as strings."""
    return {
        **{key: str(value) for key, value in entries.items()},
        "max_timestep": str(step.model.config.max_timestep),
        "toolkit_version": toolkit_version(),
        "commit": toolkit_commit(),
        "state": json.dumps([tensor.to_json() for tensor in step.layout]),
    }


def example_inputs(step: PolicyStep) -> tuple[torch.Tensor, ...]:
    """observation, return_to_go, timestep, then the state tensors, for `_EXAMPLE_BATCH` envs."""
    config = step.model.config
    B = _EXAMPLE_BATCH
    observation = torch.zeros(B, config.observation_dim)
    return_to_go = torch.zeros(B, 1)
    timestep = torch.zeros(B, dtype=torch.int64)
    return observation, return_to_go, timestep, *step.initial_state(B)


def export_program(step: PolicyStep) -> torch.export.ExportedProgram:
    """`step` traced by torch.export, its batch dimension dynamic."""
    batch = {0: torch.export.Dim("batch")}
    # Shaped as forward's signature: three tensors, then *state as one tuple.
    dynamic = (batch, batch, batch, tuple(batch for _ in step.layout))
    with torch.no_grad(), warnings.catch_warnings():
        # nn.GRU / nn.LSTM re-assign their weight list while traced; the program is right.
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights")
        return torch.export.export(step.eval(), example_inputs(step), dynamic_shapes=dynamic)


def write_torch_program(
    program: torch.export.ExportedProgram, path: Path, metadata: dict[str, str]
) -> None:
    """A .pt2 file; its metadata is the extra file `metadata.json`."""
    with atomic_write(path) as file:
        torch.export.save(program, file, extra_files={"metadata.json": json.dumps(metadata)})


def _onnx_translations() -> dict:
    """ONNX for the aten ops whose stock translation takes several times the operators needed:
    at batch 1 a step's time is mostly ONNX Runtime's cost per operator, not arithmetic."""
    from onnxscript import opset20 as op

    def lerp(start, end, weight):
        # start + weight (end - start): 3 operators where the stock one takes 7 (it switches to
        # end - (1 - weight)(end - start) above weight 0.5, a rounding nicety: both agree to
        # float32 rounding here, far within the 1e-4 parity of actions).
        return op.Add(start, op.Mul(weight, op.Sub(end, start)))

    def softplus(x, beta: float = 1.0, threshold: float = 20.0):
        # softplus(beta x) / beta by ONNX's Softplus: 3 operators where the stock one takes 5.
        # It drops the shortcut to x above `threshold`, where softplus is x to float32 rounding.
        beta = float(beta)  # an int in the trace where the model wrote one (beta=-1)
        return op.Div(op.Softplus(op.Mul(x, beta)), beta)

    return {torch.ops.aten.lerp.Tensor: lerp, torch.ops.aten.softplus.default: softplus}


def write_onnx(program: torch.export.ExportedProgram, path: Path, metadata: dict[str, str]) -> None:
    """An ONNX file with `metadata` as its metadata_props (its state layout names the state
    inputs and outputs). Needs the [export] extra."""
    import onnx

    names = [tensor["name"] for tensor in json.loads(metadata["state"])]
    # The exporter logs what it cannot register (torchvision's ops) and its progress.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    onnx_program = torch.onnx.export(
        program,
        input_names=[*INPUT_NAMES, *(f"state.{name}" for name in names)],
        output_names=["action", *(f"next_state.{name}" for name in names)],
        dynamo=True,
        external_data=False,
        verbose=False,
        custom_translation_table=_onnx_translations(),
    )
    model = onnx_program.model_proto
    onnx.helper.set_model_props(model, metadata)
    with atomic_write(path) as file:
        onnx.save_model(model, file)
