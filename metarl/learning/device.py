"""Device selection (``"auto"`` picks CUDA when available, else CPU), the optimiser every agent
uses, and restoring a saved random stream on another device."""
from __future__ import annotations

import hashlib

import torch

from metarl.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not valid; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def adam(params, device: torch.device, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam`` on ``device``, fused (one kernel for all parameters) where torch has
    a fused kernel (CPU, CUDA): measured here about 3x faster per step than the per-parameter
    loop on small networks, where the optimiser step is a visible share of a minibatch."""
    return torch.optim.Adam(params, fused=torch.device(device).type in ("cpu", "cuda"), **kwargs)


def restore_generator(generator: torch.Generator, state: torch.Tensor) -> None:
    """``generator.set_state(state)``, or, for a state saved by a generator of another device
    type (a run trained on CUDA, resumed or evaluated on CPU: the two have different state
    formats), a reseed from a hash of that state. The stream then differs from the one the
    run would have continued on its own device, but stays a deterministic function of the
    checkpoint."""
    state = state.detach().cpu() if isinstance(state, torch.Tensor) else torch.as_tensor(state)
    if state.numel() == generator.get_state().numel():
        generator.set_state(state)
        return
    digest = hashlib.sha256(state.numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
