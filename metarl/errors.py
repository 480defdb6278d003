"""User-facing errors: one line that names the bad value and what is accepted."""
from __future__ import annotations

from collections.abc import Iterable


class MetaRLError(ValueError):
    """Base class for configuration and input errors raised by metarl."""


class ConfigError(MetaRLError):
    """A bad configuration key or value."""


class UnknownNameError(MetaRLError, KeyError):
    """An unknown family, agent or experiment name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def short_repr(value: object, limit: int = 120) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters (for error messages)."""
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            text = np.array2string(value, separator=", ", threshold=20, max_line_width=10**9)
            text = f"array({text})"
        else:
            text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return _fold(text, limit)


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """``"TypeName: message"`` folded onto one line (cut to about ``limit`` characters), to
    quote an exception from deep inside (a worker, torch.load) in a one-line error."""
    return _fold(f"{type(exc).__name__}: {exc}", limit)


def _fold(text: str, limit: int | None) -> str:
    """``text`` on one line (runs of whitespace -> one space), cut to ``limit`` with "..."."""
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: object, candidates: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``candidates`` to a misspelt ``word`` (names
    compared with dashes as underscores), or "" when none is close. ``word`` may be a list of
    unknown names: a hint only when it holds exactly one."""
    import difflib

    if isinstance(word, (list, tuple)):
        word = word[0] if len(word) == 1 else None
    if not isinstance(word, str):
        return ""
    names = {str(c).replace("-", "_"): str(c) for c in candidates}
    close = difflib.get_close_matches(word.replace("-", "_"), list(names), n=1, cutoff=0.7)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


def check_choice(what: str, value: object, choices: Iterable[object]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    choices = list(choices)
    try:
        ok = any(value is c or bool(value == c) for c in choices)
    except (TypeError, ValueError):  # e.g. a numpy array compared with a string
        ok = False
    if not ok:
        raise ConfigError(f"{what}={short_repr(value)} is not valid{did_you_mean(value, choices)}; "
                          f"choose one of {short_repr(choices, 400)}")


def check_bool(what: str, value: object) -> bool:
    """Raise ConfigError unless ``value`` is a boolean (Python or numpy)."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what} must be true or false, got {short_repr(value)}")
    return bool(value)


def check_int(what: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """Raise ConfigError unless ``value`` is an int within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise ConfigError(f"{what} must be an integer, got {short_repr(value)}") from None
    if low is not None and value < low:
        raise ConfigError(f"{what}={value} is too small; it must be >= {low}")
    if high is not None and value > high:
        raise ConfigError(f"{what}={value} is too large; it must be <= {high}")
    return value


def check_widths(what: str, value: object) -> tuple[int, ...]:
    """Raise ConfigError unless ``value`` is a list of positive layer widths like [40, 40]."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{what} must be a list of layer widths like [40, 40], got {short_repr(value)}")
    return tuple(check_int(f"{what} entry", h, low=1) for h in value)


def check_float(what: str, value: object, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """Raise ConfigError unless ``value`` is a finite real number within the bounds."""
    import math

    import numpy as np

    # numpy / torch scalars convert; booleans and text do not count as numbers here
    # (float(True) and float("0.5") would silently accept them)
    if isinstance(value, (bool, str, bytes, np.bool_)):
        raise ConfigError(f"{what} must be a number, got {short_repr(value)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, got {short_repr(value)}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{what}={value} is out of range; it must be {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise ConfigError(f"{what}={value} is out of range; it must be <= {high}")
    return value
