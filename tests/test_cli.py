"""The asl-recog command line, in-process, on real data."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from PIL import Image

import asl_recog as asl
from asl_recog.cli._main import build_parser, main
from asl_recog.cli._parser import command_parser


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "data", "train", "compare", "export", "serve", "predict", "deploy"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "asl-recog train hyperdrive" in capsys.readouterr().out


def test_data_summary_and_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.png"
    assert main(["data", "--grid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "train: 27,455 images" in out and "test: 7,172 images" in out
    with Image.open(grid) as image:
        assert image.size[0] > 400


def test_compare_writes_a_report(tmp_path: Path, saved_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", f"lr={saved_model}", "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "Best by accuracy: lr" in out
    assert (tmp_path / "report" / "report.md").is_file()
    # The headline table, not ~30 columns; the lines are measured as a single process prints them
    # (under an xdist worker, pytest's tmp_path has one more folder, popen-gwN).
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    single = out.replace(f"/popen-{worker}/", "/") if worker else out
    assert max(len(line) for line in single.splitlines()) <= 120
    assert "test accuracy" in out and "every column of the summary" in out


def test_bad_input_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "out.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    config = tmp_path / "bad.yml"
    config.write_text("hyperdrive:\n  max_total_runs: 0\n")
    assert main(["train", "hyperdrive", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "max_total_runs must be an integer >= 1" in capsys.readouterr().err  # a config key: named as written
    assert main(["train", "hyperdrive", "--max-runs", "0", "--out", str(tmp_path / "run")]) == 2
    assert "--max-total-runs (max_total_runs) must be an integer >= 1" in capsys.readouterr().err  # the flag


def test_serve_and_deploy_arguments_parse() -> None:
    args = build_parser().parse_args(["serve", "m.onnx", "--port", "8123", "--no-auth"])
    assert args.port == 8123 and args.no_auth and args.model == "m.onnx"
    args = build_parser().parse_args(["deploy", "m.onnx", "--target", "azure", "--name", "asl"])
    assert args.target == "azure" and args.name == "asl"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "hyperdrive", "--timeout-minutes", "1"], "hyperdrive calls that setting max_duration_minutes: use"),
        (["train", "automl", "--max-runs", "2"], "automl calls that setting max_iterations: use --max-iterations"),
        (["train", "automl", "--max-concurrent-runs", "2"], "use --max-concurrent-iterations"),
        (["train", "automl", "--primary-metric-name", "loss"], "use --primary-metric "),
        (["train", "hyperdrive", "--allowed-models", "KNN"], "applies to `asl-recog train automl` only"),
        (["train", "automl", "--epochs", "2"], "applies to `asl-recog train hyperdrive` only"),
        (["train", "automl", "--builder", "seed"], "applies to `asl-recog train hyperdrive` only"),
    ],
)
def test_train_refuses_a_flag_of_the_other_route_naming_the_right_one(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_flags_become_the_routes_settings(tmp_path: Path) -> None:
    from asl_recog.cli._train import settings_from_args

    parse = build_parser().parse_args
    hd = settings_from_args(
        parse(["train", "hyperdrive", "--max-runs", "3", "--epochs", "2", "--concurrent", "2", "--no-progress"])
    )
    assert hd == {
        "max_total_runs": 3,
        "max_concurrent_runs": 2,
        "fixed_params": {"epochs": 2},
        "progress": False,
    }
    assert asl.HyperDriveTrainer(**hd).max_duration_minutes is None
    automl = settings_from_args(
        parse(
            [
                "train",
                "automl",
                "--timeout-minutes",
                "3",
                "--allowed-models",
                "knn",  # any case, as the portfolio spells it
                "SVM",
                "--no-augment",
                "--seed",
                "4",
            ]
        )
    )
    assert automl == {
        "experiment_timeout_minutes": 3.0,
        "allowed_models": ["KNN", "SVM"],
        "augment": False,
        "seed": 4,
    }
    assert asl.AutoMLTrainer(**automl).algorithms() == ["KNN", "SVM"]


def test_a_config_without_the_routes_section_is_an_error_not_a_default_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "search.yml"
    config.write_text("hyperdrive:\n  max_total_runs: 2\n")
    assert main(["train", "automl", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "has no 'automl' section (it has ['hyperdrive'])" in err and "asl-recog train hyperdrive" in err
    assert not (tmp_path / "run").exists()  # nothing started


def test_settings_json_stores_paths_as_paths(tmp_path: Path) -> None:
    import json

    from asl_recog.results._run_dir import prepare_run_dir

    trainer = asl.HyperDriveTrainer(run_dir=tmp_path / "run")
    settings = json.loads((prepare_run_dir(trainer) / "settings.json").read_text())
    assert settings["run_dir"] == str(tmp_path / "run")  # not "PosixPath('...')"


def test_train_flags_override_the_config_file(tmp_path: Path) -> None:
    from asl_recog.cli._train import settings_from_args

    config = tmp_path / "search.yml"
    config.write_text(
        "hyperdrive:\n  builder: seed\n  max_total_runs: 5\n  run_dir: runs/from-config\n"
        "  fixed_params: {batch_size: 64}\n"
        "  hyperparameter_sampling: {type: grid, parameter_space: {hidden: 'choice(8, 16)'}}\n"
    )
    args = build_parser().parse_args(
        ["train", "hyperdrive", "--config", str(config), "--max-total-runs", "2", "--epochs", "1"]
    )
    settings = settings_from_args(args)
    assert settings["max_total_runs"] == 2 and settings["builder"] == "seed"
    assert settings["fixed_params"] == {"batch_size": 64, "epochs": 1}
    assert settings["run_dir"] == Path("runs/from-config")  # no --out: the config's run_dir
    trainer = asl.HyperDriveTrainer(**settings)
    assert trainer.hyperparameter_sampling == asl.GridParameterSampling({"hidden": asl.choice(8, 16)})


def _every_option(parser: argparse.ArgumentParser, path: str = "asl-recog") -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _every_option(sub, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            found.append((path, action))
    return found


def test_every_option_has_help_and_no_parser_takes_abbreviations() -> None:
    options = _every_option(build_parser())
    assert len(options) > 60
    missing = [f"{path} {action.option_strings or action.dest}" for path, action in options if not action.help]
    assert not missing, f"options without help text: {missing}"
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        assert parser.allow_abbrev is False, parser.prog
        parsers += [s for a in parser._actions if isinstance(a, argparse._SubParsersAction) for s in a.choices.values()]


def test_a_misspelt_flag_gets_the_commands_usage_and_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "automl", "--experiment-timeout-minute", "5"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("usage: asl-recog train automl")  # the command's usage, not the top level's
    assert "--experiment-timeout-minute: did you mean --experiment-timeout-minutes or" in err  # best first
    with pytest.raises(SystemExit):  # an abbreviation is not a flag
        main(["train", "automl", "--experiment-timeout", "5"])
    assert "unrecognized arguments: --experiment-timeout" in capsys.readouterr().err


def test_exit_codes_say_failure_usage_or_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asl_recog.cli._main as cli_main

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    def failed(args: argparse.Namespace) -> int:
        raise asl.TrialFailedError("no trial finished")

    parser = cli_main.build_parser()
    command_parser(parser, "data").set_defaults(func=interrupted)
    monkeypatch.setattr(cli_main, "build_parser", lambda command=None: parser)
    assert main(["data"]) == 130
    assert capsys.readouterr().err.strip() == "asl-recog data: interrupted"
    command_parser(parser, "data").set_defaults(func=failed)
    assert main(["data"]) == 1  # the work failed; the command was fine
    assert "error: no trial finished" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "out.onnx")]) == 2  # a wrong path


def test_help_and_version_load_no_heavy_library() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from asl_recog.cli import main\n"
        "for argv in (['--help'], ['--version'], ['train', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    if argv[0] != 'train':\n"
        "        heavy = [m for m in ('tensorflow', 'sklearn', 'onnxruntime', 'keras', 'optuna') if m in sys.modules]\n"
        "        print('HEAVY', argv[0], heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY --help []" in done.stderr and "HEAVY --version []" in done.stderr, done.stderr
    assert "usage: asl-recog train" in done.stdout  # a command's own help still has its flags


#: Trainer arguments with no flag of their own, and where the command line sets them instead.
NOT_FLAGS = {
    "run_dir": "--out",
    "task": "only 'classification' exists",
    "fixed_params": "--epochs and --batch-size fix one each; a config file fixes any",
    "renamed": "deprecated spellings of other arguments",
}


@pytest.mark.parametrize(("route", "trainer"), [("automl", asl.AutoMLTrainer), ("hyperdrive", asl.HyperDriveTrainer)])
def test_every_trainer_argument_has_a_flag(route: str, trainer: type) -> None:
    import inspect

    from asl_recog.cli._train import FIXED_PARAM_FLAGS, ROUTE_FLAGS, SHARED_FLAGS

    arguments = set(inspect.signature(trainer.__init__).parameters) - {"self"}
    flags = {flag.setting for flag in (*SHARED_FLAGS, *ROUTE_FLAGS[route])}
    missing = arguments - flags - set(NOT_FLAGS)
    assert not missing, f"{trainer.__name__} arguments without a flag: {sorted(missing)}"
    extra = flags - arguments - set(FIXED_PARAM_FLAGS) - {"slack_factor"}  # these build other arguments
    assert not extra, f"flags that set nothing on {trainer.__name__}: {sorted(extra)}"


def test_sampling_policy_and_batch_size_flags_build_the_hyperdrive_settings() -> None:
    from asl_recog.cli._train import settings_from_args

    parse = build_parser("train").parse_args
    words = ["train", "hyperdrive", "--builder", "seed", "--batch-size", "64", "--sampling", "random"]
    settings = settings_from_args(parse([*words, "--policy", "bandit", "--slack-factor", "0.2"]))
    trainer = asl.HyperDriveTrainer(**settings)
    assert trainer.fixed_params == {"batch_size": 64}
    assert isinstance(trainer.hyperparameter_sampling, asl.RandomParameterSampling)
    assert "batch_size" not in trainer.hyperparameter_sampling.parameter_space  # fixed, so not sampled
    assert trainer.policy == asl.BanditPolicy(slack_factor=0.2)
    with pytest.raises(asl.ConfigurationError, match="--sampling grid: .*supports only choice"):
        settings_from_args(parse(["train", "hyperdrive", "--sampling", "grid"]))
    with pytest.raises(asl.ConfigurationError, match="--slack-factor is the bandit policy's"):
        settings_from_args(parse(["train", "hyperdrive", "--policy", "median", "--slack-factor", "0.2"]))
    automl = settings_from_args(parse(["train", "automl", "--featurization", "off", "--max-latency-ms", "1"]))
    assert asl.AutoMLTrainer(**automl, enable_stack_ensemble=True).featurization == "off"
