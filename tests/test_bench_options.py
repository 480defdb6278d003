"""`metarl bench NAME` rejects impossible numbers with a one-line usage error before any work."""
import pytest

from metarl.cli import main


@pytest.mark.parametrize("argv, words", [
    (["maml", "--seconds", "-1"], "argument --seconds: '-1' is out of range; it must be > 0"),
    (["maml", "--threads", "0"], "argument --threads: '0' is out of range; it must be >= 1"),
    (["rl2", "--seconds", "0"], "argument --seconds: '0' is out of range; it must be > 0"),
    (["rl2", "--rppo-batch-sizes", "128", "0"], "argument --rppo-batch-sizes: '0' is out of range"),
    (["rl2", "--eval-tasks", "2.5"], "argument --eval-tasks: expected an integer, got '2.5'"),
    (["rollout", "--trials", "0"], "argument --trials: '0' is out of range; it must be >= 1"),
    (["rollout", "--seconds", "nan"], "argument --seconds: 'nan' is out of range"),
    (["rollout", "--train-seconds", "-5"], "argument --train-seconds: '-5' is out of range; it must be >= 0"),
])
def test_bad_bench_numbers_are_usage_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and "Traceback" not in err


def test_bench_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "maml", "--help"])
    assert "(default: 10.0)" in capsys.readouterr().out


def test_bare_bench_is_a_usage_error_and_underscored_options_work(capsys):
    assert main(["bench"]) == 2
    assert "name a benchmark" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # --eval_tasks is accepted as --eval-tasks (then 0 is out of range)
        main(["bench", "rl2", "--eval_tasks", "0"])
    assert "argument --eval-tasks: '0' is out of range" in capsys.readouterr().err


def test_eval_accepts_underscored_options():
    from metarl.cli import build_parser

    from metarl.cli import _dashed

    argv = _dashed(["RUN", "--no_baselines", "--num_evals", "3", "--protocol_tasks=4", "--tasks", "my_tasks"])
    assert argv == ["RUN", "--no-baselines", "--num-evals", "3", "--protocol-tasks=4", "--tasks", "my_tasks"]
    args = build_parser().parse_args(["eval", *argv[:-2]])
    assert args.no_baselines and args.num_evals == 3 and args.protocol_tasks == 4


def test_negative_values_reach_the_value_checks(capsys):
    """``--levels -1,0`` is a value, not an option: its own check names it (argparse alone said
    "expected one argument")."""
    from metarl.cli import _dashed

    from helpers import cli

    assert _dashed(["x", "--levels", "-1,0", "--tasks", "-3", "--quiet", "-o", "f"]) == \
        ["x", "--levels=-1,0", "--tasks=-3", "--quiet", "-o", "f"]
    assert cli(["generate", "point-nav", "--levels", "-1,0"]) == 2
    assert "got '-1,0'" in capsys.readouterr().err
