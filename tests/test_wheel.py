"""The built wheel works on its own: it carries the dataset, the hand detector and the license files.

A user who runs ``pip install asl-recog`` gets only what the wheel holds, so this
builds the wheel from the source tree, installs it into a fresh virtual
environment outside the tree and loads both bundled files from there. The
dependencies are not reinstalled (``--no-deps``): the new environment reuses this
interpreter's site-packages, which keeps the test at a few seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from asl_recog import _version

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = ("sign_mnist_train.csv.gz", "sign_mnist_test.csv.gz")

# Run by the fresh environment's interpreter. It prints where asl_recog and the
# data were loaded from, so the test can prove that neither came from the source tree.
CHECK = """
import json, asl_recog, numpy
from asl_recog.data._hands import DETECTOR_FILE
train, test = asl_recog.load_sign_mnist("train"), asl_recog.load_sign_mnist("test")
wall = asl_recog.locate_hand(numpy.full((120, 160, 3), 128, numpy.uint8))  # runs the shipped hand detector
print(json.dumps({"module": asl_recog.__file__, "train": [len(train), train.source],
                  "test": [len(test), test.source], "detector": str(DETECTOR_FILE), "wall": repr(wall)}))
"""


def _run(command: list[str]) -> str:
    """Run a build or install step; on failure, show its own output rather than only the exit code."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _setuptools_builds_offline() -> bool:
    """Whether this interpreter's setuptools can build the wheel without build isolation.

    pyproject.toml needs setuptools >= 77 (SPDX ``license`` and ``license-files``); the
    ``dev`` extra installs it. An older environment falls back to build isolation,
    which fetches setuptools from the package index.
    """
    try:
        major = int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


def _build_wheel(workdir: Path) -> Path:
    # Build from a copy of what the wheel is made of: setuptools writes build/ and
    # *.egg-info next to the sources, and a stale build/lib in the checkout could
    # slip files into the wheel that the sources no longer have.
    source = workdir / "src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "asl_recog", source / "asl_recog", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    )
    dist = workdir / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(source)]
    if _setuptools_builds_offline():
        command.insert(4, "--no-build-isolation")
    _run(command)
    (wheel,) = dist.glob("asl_recog-*.whl")
    return wheel


def _fresh_venv(where: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel, plus this interpreter's installed packages."""
    # --system-site-packages alone does not help when this interpreter is itself a
    # virtual environment (as `make test`'s is): the new one would see the base
    # Python's site-packages, not ours. So the new environment is made without
    # them and pointed at our site-packages by a .pth file, listed in our order.
    _run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    python = where / "bin" / "python"
    # Install before the .pth file exists, so that pip sees an environment without
    # asl_recog: the editable install in our site-packages must be neither found
    # ("already satisfied") nor touched. --python runs our pip for the new interpreter.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ]
    )
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    ours = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        ours.append(site.getusersitepackages())
    # Plain path lines are appended after the new site-packages, so the wheel's
    # asl_recog wins; the .pth files in our site-packages (the editable install's
    # import hook among them) are not run for directories added this way.
    (Path(purelib) / "_reuse_test_interpreter.pth").write_text("\n".join(ours) + "\n")
    return python


def test_wheel_carries_data_and_license_and_loads_outside_the_source_tree(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "build")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        meta = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    for data_file in DATA_FILES:
        assert f"asl_recog/datasets/sign-language-mnist/{data_file}" in names
    for page_file in ("index.html", "page.js", "explain.js", "page.css", "letters.png"):  # the page is package data
        assert f"asl_recog/serving/_static/{page_file}" in names
    for detector_file in ("palm_detection_full.onnx", "LICENSE", "NOTICE"):  # the hand detector, Apache-2.0
        assert f"asl_recog/data/_detector/{detector_file}" in names
    assert any(n.endswith(".dist-info/licenses/asl_recog/data/_detector/LICENSE") for n in names), sorted(names)
    assert "License-Expression: MIT AND CC0-1.0 AND Apache-2.0" in meta
    assert "asl_recog/deploy/_templates/score.py" in names  # the Azure scoring script the deployers ship
    assert f"\nVersion: {_version.__version__}\n" in meta  # pyproject.toml reads it from asl_recog/_version.py

    venv = tmp_path / "venv"
    python = _fresh_venv(venv, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "ASL_RECOG_DATA")
    }
    # No cache: a new venv path is a new cache key, so caching would leave ~27 MB in
    # ~/.cache/asl_recog on every run, and parsing the files is part of what is tested.
    env["ASL_RECOG_CACHE"] = "0"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # -I: neither the current folder nor PYTHONPATH goes on sys.path, and the cwd is
    # outside the tree, so nothing can fall back to the checkout's copy.
    run = subprocess.run(
        [str(python), "-I", "-c", CHECK], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.strip().splitlines()[-1])

    venv_root = venv.resolve()
    assert Path(loaded["module"]).resolve().is_relative_to(venv_root), loaded["module"]
    assert not Path(loaded["module"]).resolve().is_relative_to(ROOT)
    assert loaded["train"][0] == 27_455 and loaded["test"][0] == 7_172
    assert Path(loaded["detector"]).resolve().is_relative_to(venv_root) and loaded["wall"] == "None"
    for split, data_file in zip(("train", "test"), DATA_FILES, strict=False):
        source = Path(loaded[split][1]).resolve()
        assert source.is_relative_to(venv_root) and source.name == data_file, loaded[split]
