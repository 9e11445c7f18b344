"""The exported step (ONNX in ONNX Runtime, and the torch.export program) against the toolkit's
own recurrent rollout: same model, same env seeds, every backbone, float32."""

import json

import numpy as np
import pytest
import torch

from agents import BACKBONES, DecisionModel, DecisionModelConfig, build_backbone
from envs.make import make_env, make_vector_env
from envs.policy_export import export_program, policy_metadata, write_onnx
from envs.policy_step import PolicyStep, state_layout
from envs.recurrent_policy import RecurrentPolicy
from envs.rollout import rollout

ort = pytest.importorskip("onnxruntime")

ENV_ID, OBS_DIM, ACT_DIM = "Hopper-v5", 11, 3
TARGET_RETURN = 3600.0
TIME_LIMIT = 200  # episodes end here if the policy has not fallen before
NUM_ENVS, EPISODES_PER_ENV = 2, 2
# Exporting takes seconds per backbone: one in the default run, all of them with -m slow.
EVERY_BACKBONE = [
    pytest.param(name, marks=() if name == "min-gru" else pytest.mark.slow) for name in BACKBONES
]


def small_model(backbone: str) -> DecisionModel:
    """An untrained float32 model with observation statistics that are not the identity."""
    torch.manual_seed(0)
    model = DecisionModel(
        DecisionModelConfig(OBS_DIM, ACT_DIM, context_length=4),
        build_backbone(backbone, d_model=16, n_layers=2, dropout=0.0),
    )
    model.set_observation_statistics(0.1 * torch.randn(OBS_DIM), 0.5 + torch.rand(OBS_DIM))
    return model.eval()


class SessionPolicy:
    """The rollout's Policy over an exported step (ONNX Runtime or the .pt2 program): the
    state built from the metadata's layout, the return-to-go and timestep kept by the caller."""

    def __init__(self, run_step, layout: list[dict], num_envs: int):
        self.run_step, self.layout = run_step, layout
        self.state = self._initial_state(num_envs)
        self.returns_to_go = np.full(num_envs, TARGET_RETURN)
        self.timesteps = np.zeros(num_envs, dtype=np.int64)

    def _initial_state(self, num_envs: int) -> list[np.ndarray]:
        return [
            np.full(
                [num_envs if size == -1 else size for size in tensor["shape"]],
                float(tensor["fill"]),
                dtype=tensor["dtype"],
            )
            for tensor in self.layout
        ]

    def reset(self, rows: np.ndarray) -> None:
        for current, initial in zip(self.state, self._initial_state(len(rows)), strict=True):
            current[rows] = initial[rows]
        self.returns_to_go[rows] = TARGET_RETURN
        self.timesteps[rows] = 0

    def act(self, observations: np.ndarray) -> np.ndarray:
        inputs = [
            observations.astype(np.float32),
            self.returns_to_go[:, None].astype(np.float32),  # (N, 1)
            self.timesteps,
        ]
        action, *self.state = self.run_step(inputs + self.state)
        return action.astype(np.float64)

    def observe(self, rewards: np.ndarray) -> None:
        self.returns_to_go -= rewards
        self.timesteps += 1


class LockStep:
    """Drives the envs with `driver`'s actions and records how far each follower's actions,
    given the same observations and rewards, are from them."""

    def __init__(self, driver, **followers):
        self.driver, self.followers = driver, followers
        self.largest_difference = dict.fromkeys(followers, 0.0)
        self.steps = 0

    def reset(self, rows):
        for policy in (self.driver, *self.followers.values()):
            policy.reset(rows)

    def act(self, observations):
        actions = self.driver.act(observations)
        for name, follower in self.followers.items():
            difference = np.abs(follower.act(observations) - actions).max()
            self.largest_difference[name] = max(self.largest_difference[name], difference)
        self.steps += 1
        return actions

    def observe(self, rewards):
        for policy in (self.driver, *self.followers.values()):
            policy.observe(rewards)


@torch.inference_mode()
def run_episodes(policy):
    envs = make_vector_env(ENV_ID, NUM_ENVS, max_episode_steps=TIME_LIMIT)
    try:
        quotas = np.full(NUM_ENVS, EPISODES_PER_ENV)
        return rollout(envs, policy, quotas, seed=0)
    finally:
        envs.close()


@pytest.mark.parametrize("backbone", EVERY_BACKBONE)
def test_exported_steps_act_as_the_recurrent_policy(backbone, tmp_path):
    model = small_model(backbone)
    with make_env(ENV_ID) as probe:
        low, high = probe.action_space.low, probe.action_space.high
    step = PolicyStep(model, low, high)
    program = export_program(step)
    metadata = policy_metadata(step, env_id=ENV_ID, target_return=TARGET_RETURN)
    path = tmp_path / "policy.onnx"
    write_onnx(program, path, metadata)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [tensor.name for tensor in session.get_inputs()]
    layout = json.loads(session.get_modelmeta().custom_metadata_map["state"])
    onnx_step = SessionPolicy(
        lambda inputs: session.run(None, dict(zip(names, inputs, strict=True))), layout, NUM_ENVS
    )
    module = program.module()
    torch_step = SessionPolicy(
        lambda inputs: [t.numpy() for t in module(*map(torch.from_numpy, inputs))],
        layout,
        NUM_ENVS,
    )
    toolkit = RecurrentPolicy(model, TARGET_RETURN, NUM_ENVS, low, high)

    lock_step = LockStep(onnx_step, toolkit=toolkit, torch_export=torch_step)
    onnx_episodes = run_episodes(lock_step)
    assert lock_step.steps >= 20  # several steps, and episodes ending and starting again
    assert len(onnx_episodes.returns) == NUM_ENVS * EPISODES_PER_ENV
    assert lock_step.largest_difference["toolkit"] <= 1e-4
    assert lock_step.largest_difference["torch_export"] <= 1e-5

    # Each on its own, from the same env seeds: the same episodes.
    toolkit_episodes = run_episodes(RecurrentPolicy(model, TARGET_RETURN, NUM_ENVS, low, high))
    np.testing.assert_array_equal(onnx_episodes.lengths, toolkit_episodes.lengths)
    np.testing.assert_allclose(onnx_episodes.returns, toolkit_episodes.returns, rtol=1e-3)


def test_the_state_layout_says_how_each_tensor_starts():
    layout = {tensor.name: tensor for tensor in state_layout(small_model("aaren"))}
    running_max = layout["layer0.0"]  # Aaren's m: no score seen yet
    assert running_max.fill == -np.inf and running_max.to_json()["fill"] == "-inf"
    assert layout["previous_action"].shape == (-1, ACT_DIM)
    assert layout["previous_action"].fill == 0.0
    transformer = {t.name: t for t in state_layout(small_model("transformer"))}
    assert transformer["layer0.2"].dtype == "int64"  # tokens seen: the ring buffer's position
    assert transformer["layer0.0"].shape == (-1, 60, 16)  # the keys' ring
    s4 = {t.name: t for t in state_layout(small_model("s4"))}
    assert s4["layer0.0"].shape[-1] == 2  # complex modes as (re, im)


@pytest.mark.parametrize("backbone", ["min-gru", pytest.param("min-lstm", marks=pytest.mark.slow)])
def test_lerp_and_softplus_export_without_branches(backbone, tmp_path):
    """minGRU's and minLSTM's state update (lerp) and minLSTM's gate (softplus) are written as
    3 operators each: the stock translations branch (Less or Greater, then Where), and at batch
    1 a step's time is ONNX Runtime's cost per operator."""
    onnx = pytest.importorskip("onnx")
    step = PolicyStep(small_model(backbone), -np.ones(ACT_DIM), np.ones(ACT_DIM))
    path = tmp_path / "policy.onnx"
    write_onnx(export_program(step), path, policy_metadata(step))
    operators = {node.op_type for node in onnx.load(path).graph.node}
    assert operators.isdisjoint({"Less", "Greater", "Where"})
    assert ("Softplus" in operators) == (backbone == "min-lstm")
