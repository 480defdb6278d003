"""Small helpers shared by the test modules (importable because pytest puts tests/ on sys.path)."""
from __future__ import annotations


def one_line(exc_info) -> str:
    """The message of a ``pytest.raises`` result, asserting it is a single non-empty line."""
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg
