"""Device selection and moving training state between devices (CPU here; the CUDA cases run
wherever torch sees a GPU)."""
from __future__ import annotations

import pytest
import torch

from helpers import cli, one_line
from metarl.errors import ConfigError
from metarl.learning.device import resolve_device, restore_generator

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_auto_cpu_and_bad_names():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError) as exc:
        resolve_device("tpu")
    assert "device='tpu' is not valid; use 'auto', 'cpu', 'cuda' or 'cuda:N'" in one_line(exc)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError) as exc:
        resolve_device("cuda")
    assert "CUDA is not available; use 'auto' or 'cpu'" in one_line(exc)


def test_restore_generator_same_device_continues_the_stream():
    a = torch.Generator().manual_seed(3)
    torch.rand(5, generator=a)
    b = torch.Generator().manual_seed(99)
    restore_generator(b, a.get_state())
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))


def test_restore_generator_from_another_device_reseeds_deterministically():
    """A CUDA generator's state (16 bytes: seed and offset) does not fit a CPU generator (MT19937,
    5056 bytes): the CPU stream is then seeded from the state, the same way every time."""
    cuda_like = torch.arange(16, dtype=torch.uint8)
    outs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(0)
        restore_generator(g, cuda_like)
        outs.append(torch.rand(4, generator=g))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], torch.rand(4, generator=torch.Generator().manual_seed(0)))
    other = torch.Generator()
    restore_generator(other, torch.arange(1, 17, dtype=torch.uint8))
    assert not torch.equal(outs[0], torch.rand(4, generator=other))


@CUDA
def test_a_run_trained_on_cuda_evaluates_and_resumes_on_cpu(tmp_path, capsys):
    """Train on the GPU, then evaluate and continue the same run on a CPU (a laptop)."""
    from rl2_runs import STEPS_PER_ITER, final_state, tiny
    from metarl.training.runner import run_experiment

    run_dir = tmp_path / "gpu"
    assert run_experiment(tiny(3), ["--run_dir", str(run_dir), "--device", "cuda"]) == 0
    assert cli(["eval", str(run_dir), "--device", "cpu", "--tasks", "30", "--quiet"]) == 0
    assert cli(["train", "tiny", "--resume", str(run_dir), "--device", "cpu",
                "--total_steps", str(STEPS_PER_ITER * 5)]) == 0
    state = final_state(run_dir)
    assert state["iteration"] == 5 and all(t.device.type == "cpu" for t in state["agent"]["net"].values())
    assert "held-out evaluation" in capsys.readouterr().out
