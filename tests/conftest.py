import pytest
import torch

from agents import BACKBONES


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="device of the device-sensitive tests (those taking the `device` fixture)",
    )


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    """The run's --device; a test taking it skips when that is cuda and none is available."""
    name = request.config.getoption("--device")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda: no CUDA device is available")
    return torch.device(name)


@pytest.fixture
def triton_device(device, monkeypatch) -> torch.device:
    """Where Triton kernels run in the `triton` tests: CUDA (--device cuda), or the CPU under
    Triton's interpreter (TRITON_INTERPRET=1), with every triton.autotune held to its first
    config there (the interpreter has no GPU to time configs on)."""
    pytest.importorskip("triton")
    from agents.kernels.available import interpreting

    if device.type == "cpu":
        if not interpreting():
            pytest.skip("Triton kernels on CPU tensors need TRITON_INTERPRET=1")
        from triton.runtime.autotuner import Autotuner

        monkeypatch.setattr(Autotuner, "prune_configs", lambda self, kwargs: self.configs[:1])
    return device


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests run many tiny ops; with several OpenMP threads on a busy 2-core machine, threads
    waiting for each other make each op take milliseconds (8x slower rollout tests, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=list(BACKBONES))
def backbone_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def tiny_dataset_store(tmp_path_factory) -> str:
    """A Minari store holding `replica/hopper/random-v0`: ~600 steps of uniform random actions."""
    from datasets.build import build_dataset
    from datasets.minari_store import minari_root

    store = tmp_path_factory.mktemp("minari")
    with minari_root(store):
        build_dataset("hopper", "random", None, steps=600, seed=0)
    return str(store)


@pytest.fixture
def tiny_dataset(tiny_dataset_store, monkeypatch) -> str:
    """The id of the tiny dataset, with MINARI_DATASETS_PATH pointing at its store."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", tiny_dataset_store)
    return "replica/hopper/random-v0"


@pytest.fixture
def short_episodes(monkeypatch) -> int:
    """Evaluation episodes cut at 30 steps: an untrained policy can keep Hopper up for 1000."""
    import functools

    import envs.evaluation
    from envs.make import make_vector_env

    time_limit = 30
    make_short_vector_env = functools.partial(make_vector_env, max_episode_steps=time_limit)
    monkeypatch.setattr(envs.evaluation, "make_vector_env", make_short_vector_env)
    return time_limit
