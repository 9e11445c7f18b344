"""Drive MuJoCo episodes with a policy exported by `python export.py RUN --out policy.onnx`,
using only numpy, gymnasium and onnxruntime: everything else comes from the file's metadata.

    python examples/run_exported_policy.py policy.onnx --episodes 3
    python examples/run_exported_policy.py policy.onnx --target-return 1800 --max-steps 200

At each step the graph takes the observation, the return-to-go (the target less the rewards
received so far), the step index and the recurrent state, and gives the action and the next
state. A new episode starts from the initial state the metadata describes.
"""

import argparse
import json

import gymnasium as gym
import numpy as np
import onnxruntime as ort


def initial_state(layout: list[dict], batch_size: int) -> dict[str, np.ndarray]:
    """The graph's `state.<name>` inputs at the start of an episode, from the metadata's layout."""
    return {
        f"state.{tensor['name']}": np.full(
            [batch_size if size == -1 else size for size in tensor["shape"]],
            float(tensor["fill"]),  # a number, or "-inf"
            dtype=tensor["dtype"],
        )
        for tensor in layout
    }


def run_episode(session, layout, env, target_return: float, seed: int | None):
    """One episode with a batch of one: (return, steps)."""
    observation, _ = env.reset(seed=seed)
    state = initial_state(layout, 1)
    return_to_go, episode_return, steps, done = target_return, 0.0, 0, False
    while not done:
        inputs = {
            "observation": observation[None].astype(np.float32),  # (1, obs_dim)
            "return_to_go": np.array([[return_to_go]], dtype=np.float32),  # (1, 1)
            "timestep": np.array([steps], dtype=np.int64),  # (1,)
            **state,
        }
        action, *next_state = session.run(None, inputs)
        state = {
            f"state.{tensor['name']}": value
            for tensor, value in zip(layout, next_state, strict=True)
        }
        observation, reward, terminated, truncated, _ = env.step(action[0].astype(np.float64))
        return_to_go -= reward
        episode_return += reward
        steps += 1
        done = terminated or truncated
    return episode_return, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", help="the .onnx file export.py wrote")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--target-return", type=float, help="default: the file's target_return")
    parser.add_argument("--seed", type=int, default=0, help="seeds the first episode's reset")
    parser.add_argument("--max-steps", type=int, help="cut episodes here (default: the env's)")
    args = parser.parse_args()

    session = ort.InferenceSession(args.policy, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    layout = json.loads(metadata["state"])
    target_return = args.target_return
    if target_return is None:
        target_return = float(metadata["target_return"])
    env = gym.make(metadata["env_id"], max_episode_steps=args.max_steps)
    print(f"{metadata['backbone']} policy on {metadata['env_id']}, target return {target_return}")
    for episode in range(args.episodes):
        # Later episodes continue the env's random stream, as a vector env's autoreset does.
        seed = args.seed if episode == 0 else None
        episode_return, steps = run_episode(session, layout, env, target_return, seed)
        print(f"episode {episode}: return {episode_return:.6f}, {steps} steps")
    env.close()


if __name__ == "__main__":
    main()
