"""Latency of one policy step at batch 1 on one CPU thread: the exported step in ONNX Runtime,
against the eager RecurrentPolicy (and the same with every token sent through the whole backbone
in turn, as it stepped before Backbone.steps), the torch.export program, and the windowed K = 20
policy that Decision Transformer style exports re-run at every step. For a floor, a graph
holding only the step's matrix products (one row times each weight matrix): at batch 1 a step
is bound by reading its weights, and once they outgrow the core's cache, by the next cache's
bandwidth.

    python bench/policy_step.py [--backbones min-gru gru] [--json PATH]

Every backbone at Decision Transformer's size (d_model 128, 3 layers, interleaved tokens),
untrained, on Hopper's sizes (11 observations, 3 actions). Each candidate takes `--block`
consecutive steps per repeat (state, return-to-go and timestep carried), the candidates
interleaved within every repeat; the table gives the median time of a step in milliseconds and
the ratios of medians measured side by side. Needs the [export] extra.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import tempfile
from copy import deepcopy

import numpy as np
import onnx
import onnxruntime as ort
import torch

from agents import BACKBONES, DecisionModel, DecisionModelConfig, build_backbone
from agents.stack import step_by_step
from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from envs.policy_export import INPUT_NAMES, export_program, policy_metadata, write_onnx
from envs.policy_step import PolicyStep
from envs.recurrent_policy import RecurrentPolicy
from envs.windowed_policy import WindowedPolicy

OBSERVATION_DIM, ACTION_DIM = 11, 3
TARGET_RETURN = 3600.0
WINDOW = 20  # K: Decision Transformer's context


def decision_model(backbone: str, d_model: int, n_layers: int) -> DecisionModel:
    backbone_model = build_backbone(backbone, d_model=d_model, n_layers=n_layers, dropout=0.0)
    config = DecisionModelConfig(OBSERVATION_DIM, ACTION_DIM, context_length=WINDOW)
    return DecisionModel(config, backbone_model).eval()


def onnx_file(program, step: PolicyStep, folder: Path) -> tuple[Path, int]:
    """The step written as ONNX, and the number of operators in its graph."""
    path = folder / "policy.onnx"
    write_onnx(program, path, policy_metadata(step))
    return path, len(onnx.load(path).graph.node)


def one_thread_session(model: bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def weight_matrices(graph: onnx.GraphProto) -> list[np.ndarray]:
    """Every weight matrix the graph multiplies by, once however often it is used, as (in,
    out): MatMul's and Gemm's second input, and the input and recurrent weights of ONNX's GRU and
    LSTM operators (one matrix per direction)."""
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    matrices: dict[str, list[np.ndarray]] = {}
    for node in graph.node:
        if node.op_type in ("MatMul", "Gemm") and node.input[1] in initializers:
            matrix = onnx.numpy_helper.to_array(initializers[node.input[1]])
            transposed = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            matrices[node.input[1]] = [matrix.T if transposed else matrix]
        elif node.op_type in ("GRU", "LSTM"):
            for name in node.input[1:3]:  # W and R: (directions, gates x hidden, in)
                weights = onnx.numpy_helper.to_array(initializers[name])
                matrices[name] = [per_direction.T for per_direction in weights]
    return [matrix for per_name in matrices.values() for matrix in per_name]


def constants_folded(path: Path) -> Path:
    """The graph as ONNX Runtime runs it after folding constants (the GRU's and LSTM's weights
    are computed from the exported ones: gates reordered), written beside `path`."""
    folded = path.with_name(path.stem + "-folded.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return folded


def matrix_products_session(matrices: list[np.ndarray]) -> ort.InferenceSession:
    """A graph that only multiplies one row by each of the step's weight `matrices` and returns
    the products in one tensor: the least any graph of this model's step can cost, since a step
    at batch 1 reads every weight once (when they outgrow the core's cache, from the next one)."""
    from onnx import TensorProto, helper, numpy_helper

    widths = sorted({matrix.shape[0] for matrix in matrices})
    inputs = [helper.make_tensor_value_info(f"x{k}", TensorProto.FLOAT, [1, k]) for k in widths]
    weights = [numpy_helper.from_array(m, f"w{i}") for i, m in enumerate(matrices)]
    products = [
        helper.make_node("MatMul", [f"x{m.shape[0]}", f"w{i}"], [f"y{i}"])
        for i, m in enumerate(matrices)
    ]
    concat = helper.make_node("Concat", [f"y{i}" for i in range(len(matrices))], ["y"], axis=1)
    total = sum(m.shape[1] for m in matrices)
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, total])
    graph = helper.make_graph([*products, concat], "products", inputs, [output], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    return one_thread_session(model.SerializeToString())


def matrix_products_steps(session: ort.InferenceSession, block: int):
    """`block` runs of the matrix-products graph, fed as a step is (numpy in, numpy out)."""
    feeds = {x.name: np.zeros((1, x.shape[1]), np.float32) for x in session.get_inputs()}

    def run():
        for _ in range(block):
            session.run(None, feeds)

    return run


def session_steps(session, step: PolicyStep, generator, block: int):
    """`block` steps of the ONNX graph as a user runs it: numpy in, numpy out, state fed back."""
    names = [tensor.name for tensor in session.get_inputs()][len(INPUT_NAMES) :]
    state = dict(zip(names, (t.numpy() for t in step.initial_state(1)), strict=True))
    carried = {"timestep": 0, "return_to_go": TARGET_RETURN}

    def run():
        for _ in range(block):
            inputs = {
                "observation": generator.standard_normal((1, OBSERVATION_DIM), np.float32),
                "return_to_go": np.array([[carried["return_to_go"]]], np.float32),
                "timestep": np.array([carried["timestep"]], np.int64),
                **state,
            }
            _, *next_state = session.run(None, inputs)
            state.update(zip(names, next_state, strict=True))
            carried["timestep"] += 1
            carried["return_to_go"] -= 1.0

    return run


def program_steps(program, step: PolicyStep, generator, block: int):
    """`block` steps of the torch.export program, tensors in and out."""
    module = program.module()
    state = step.initial_state(1)
    carried = {"timestep": 0, "return_to_go": TARGET_RETURN}

    @torch.inference_mode()
    def run():
        nonlocal state
        for _ in range(block):
            observation = torch.from_numpy(generator.standard_normal((1, OBSERVATION_DIM)))
            return_to_go = torch.tensor([[carried["return_to_go"]]])
            timestep = torch.tensor([carried["timestep"]])
            _, *state = module(observation.float(), return_to_go, timestep, *state)
            carried["timestep"] += 1
            carried["return_to_go"] -= 1.0

    return run


def policy_steps(policy, generator, block: int):
    """`block` steps of a toolkit policy (act, then observe a reward), as a rollout calls it."""
    policy.reset(np.ones(1, dtype=bool))

    @torch.inference_mode()
    def run():
        for _ in range(block):
            policy.act(generator.standard_normal((1, OBSERVATION_DIM)))
            policy.observe(np.ones(1))

    return run


def token_by_token(model: DecisionModel) -> DecisionModel:
    """A copy of `model` whose rollout sends every token through the whole backbone in turn,
    as `act` did before `steps` (each block's weights read once per token, not once per step)."""
    copy = deepcopy(model)

    def steps(x, state, skip_first):
        return step_by_step(copy.backbone.step, (x,), state, skip_first)

    copy.backbone.steps = steps
    return copy


def measure(backbone: str, args, folder: Path) -> dict:
    torch.manual_seed(0)
    model = decision_model(backbone, args.d_model, args.n_layers)
    low, high = -np.ones(ACTION_DIM), np.ones(ACTION_DIM)
    step = PolicyStep(model, low, high)
    program = export_program(step)
    path, operators = onnx_file(program, step, folder)
    session = one_thread_session(str(path))
    matrices = weight_matrices(onnx.load(constants_folded(path)).graph)
    generator = np.random.default_rng(0)
    recurrent = RecurrentPolicy(model, TARGET_RETURN, 1, low, high)
    one_token_at_a_time = RecurrentPolicy(token_by_token(model), TARGET_RETURN, 1, low, high)
    windowed = WindowedPolicy(model, TARGET_RETURN, 1, OBSERVATION_DIM, ACTION_DIM)
    candidates = {
        "onnxruntime": session_steps(session, step, generator, args.block),
        "eager": policy_steps(recurrent, generator, args.block),
        "eager_token_by_token": policy_steps(one_token_at_a_time, generator, args.block),
        "torch_export": program_steps(program, step, generator, args.block),
        "windowed_k20": policy_steps(windowed, generator, args.block),
        "matrix_products": matrix_products_steps(matrix_products_session(matrices), args.block),
    }
    # The warm-up block fills the windowed policy's K = 20 steps: every timed step re-reads 20.
    seconds = time_interleaved(candidates, torch.device("cpu"), args.repeats, warmup=1)
    ms = {name: 1e3 * value / args.block for name, value in seconds.items()}
    return {
        "backbone": backbone,
        "onnx_operators": operators,
        "weight_matrix_mib": sum(matrix.nbytes for matrix in matrices) / 2**20,
        **{f"{name}_ms": value for name, value in ms.items()},
        "eager_over_onnx": ms["eager"] / ms["onnxruntime"],
        "eager_token_by_token_over_onnx": ms["eager_token_by_token"] / ms["onnxruntime"],
        "torch_export_over_onnx": ms["torch_export"] / ms["onnxruntime"],
        "windowed_over_onnx": ms["windowed_k20"] / ms["onnxruntime"],
        "onnx_over_matrix_products": ms["onnxruntime"] / ms["matrix_products"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--block", type=int, default=25, help="steps per candidate and repeat")
    parser.add_argument("--repeats", type=int, default=30)
    parser.set_defaults(threads=1)
    args = parser.parse_args()
    device = setup(args)
    if device.type != "cpu":
        print("error: the policy step is measured on the CPU (--device cpu)", file=sys.stderr)
        sys.exit(2)
    if (args.repeats + 1) * args.block >= 1000:
        print("error: --repeats and --block must stay within 1000 steps", file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(backbone, args, Path(folder)) for backbone in args.backbones]
    # The machine's load over the last 1, 5 and 15 minutes: on a shared machine it inflates
    # every time (the ratios within a row hold better).
    load_average = [round(value, 2) for value in os.getloadavg()]
    min_gru = next((row for row in rows if row["backbone"] == "min-gru"), None)
    target = None
    if min_gru is not None:
        target = {
            "min_gru_onnx_ms": min_gru["onnxruntime_ms"],
            "its_matrix_products_alone_ms": min_gru["matrix_products_ms"],
            "at_most_0.1_ms": min_gru["onnxruntime_ms"] <= 0.1,
            # The target's eager step is the one of its day: every token through the backbone
            # in turn (the eager step of `steps` is reported beside it).
            "eager_token_by_token_over_onnx": min_gru["eager_token_by_token_over_onnx"],
            "at_least_5x_faster_than_eager_token_by_token": (
                min_gru["eager_token_by_token_over_onnx"] >= 5.0
            ),
            "eager_over_onnx": min_gru["eager_over_onnx"],
        }
    payload = {
        "benchmark": "policy_step",
        "environment": environment(device)
        | {"onnxruntime": ort.__version__, "load_average": load_average},
        "settings": {
            "d_model": args.d_model,
            "n_layers": args.n_layers,
            "batch": 1,
            "block": args.block,
            "repeats": args.repeats,
            "window": WINDOW,
        },
        "rows": rows,
        "min_gru_target": target,
    }
    report(payload, rows, args.json)


if __name__ == "__main__":
    main()
