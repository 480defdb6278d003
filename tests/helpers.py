"""Small helpers shared by the test modules (importable because pytest puts tests/ on sys.path)."""
from __future__ import annotations

import pytest
import torch

# Device parametrisation for the tests that must also hold on a GPU: the CUDA case runs
# wherever torch sees one (and is reported as skipped on CPU-only machines such as CI).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                               reason="needs CUDA"))]


def one_line(exc_info) -> str:
    """The message of a ``pytest.raises`` result, asserting it is a single non-empty line."""
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


def cli(argv: list[str]) -> int:
    """``metarl ARGV`` in this process, as its exit code (argparse's own exits included)."""
    from metarl.cli import main as cli_main

    try:
        return cli_main(argv)
    except SystemExit as exc:  # argparse's own --help / usage errors
        return int(exc.code or 0)
