"""The argument checks behind every one-line configuration error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import one_line

import metarl
from metarl.errors import ConfigError, MetaRLError, check_float, check_int


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (2, 2.0), (np.float32(0.25), 0.25), (np.int64(3), 3.0),
                                             (torch.tensor(1.5), 1.5)])
def test_check_float_accepts_real_numbers_and_returns_a_float(value, expected):
    out = check_float("lr", value)
    assert out == expected and type(out) is float


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "0.5", b"1", None, [0.1], "nan"])
def test_check_float_rejects_booleans_text_and_containers(value):
    with pytest.raises(ConfigError, match="lr must be a number, got"):
        check_float("lr", value)


@pytest.mark.parametrize("value, kw, words", [
    (float("nan"), {}, "lr must be finite"), (float("inf"), {}, "lr must be finite"),
    (0.0, {"low": 0.0, "low_open": True}, "lr=0.0 is out of range; it must be > 0.0"),
    (-1.0, {"low": 0.0}, "it must be >= 0.0"), (2.0, {"high": 1.0}, "it must be <= 1.0"),
])
def test_check_float_bounds_name_the_value_and_the_range(value, kw, words):
    with pytest.raises(ConfigError) as exc:
        check_float("lr", value, **kw)
    assert words in str(exc.value)


@pytest.mark.parametrize("value", [True, 2.0, "3", None])
def test_check_int_rejects_non_integers(value):
    with pytest.raises(ConfigError, match="n must be an integer"):
        check_int("n", value)
    assert check_int("n", np.int32(4), low=1) == 4


def test_one_line_folds_an_exception_and_cuts_it():
    from metarl.errors import one_line

    exc = RuntimeError("Error(s) in loading state_dict:\n\tsize mismatch for w:\n\tcopying a param")
    assert one_line(exc) == "RuntimeError: Error(s) in loading state_dict: size mismatch for w: copying a param"
    cut = one_line(exc, 30)
    assert len(cut) == 30 and cut.endswith("...") and "\n" not in cut


def test_misspelt_names_and_options_get_a_suggestion():
    from metarl.errors import did_you_mean

    assert did_you_mean("hiden_sizes", ["hidden_sizes", "inner_lr"]) == " (did you mean 'hidden_sizes'?)"
    assert did_you_mean("point_nav", ["point-nav", "sinusoid"]) == " (did you mean 'point-nav'?)"
    assert did_you_mean("xyz", ["hidden_sizes"]) == "" and did_you_mean(3, ["a"]) == ""
    for call, words in ((lambda: metarl.make_family("point_nav"), ["'point_nav'", "did you mean 'point-nav'"]),
                        (lambda: metarl.make_agent("maml", metarl.make_family("sinusoid"), batching="stack"),
                         ["batching='stack'", "did you mean 'stacked'", "'loop'"]),
                        (lambda: metarl.train("sinusoid", "maml", episodes_per_trial=20, total_steps=10,
                                              hiden_sizes=[3]), ["--hiden_sizes", "did you mean 'hidden_sizes'"])):
        with pytest.raises(MetaRLError) as e:
            call()
        assert all(w in one_line(e) for w in words), one_line(e)
