"""Write constraints.txt: the exact versions of asl-recog's dependencies in a tested environment.

Run it with the interpreter of an environment in which the test suite passes,
installed with every extra (``make test`` makes one; ``make constraints`` runs this):

    .venv/bin/python tools/gen_constraints.py > constraints.txt

It walks the dependency tree of ``asl-recog[dev,azure,azureml,postgres,mlflow]`` as installed in
that environment and pins every package in it to the installed version, so
packages that happen to sit in the environment but that nothing of ours needs
(pip, tools installed by hand) stay out. Markers are evaluated for the running
interpreter: the file holds what this Python version and platform install.
"""

from __future__ import annotations

import platform
import sys

from asl_recog._pins import EXTRAS, ROOT, installed_pins, pin_lines


def main() -> None:
    # The closure walk lives in the package: a model's run record hashes the same lines.
    pins = installed_pins(ROOT, EXTRAS, strict=True)  # raises if a needed package is missing
    print(f"""\
# Tested versions of every package asl-recog[{",".join(EXTRAS)}] needs (a pip constraints file).
# `make demo`, `make test` and CI install with it: pip install -c constraints.txt -e '.[...]'.
# It only bounds versions; pyproject.toml still says what is required.
#
# Generated on Python {platform.python_version()} ({sys.platform}, {platform.machine()}) from an environment
# in which the test suite passes. To regenerate (e.g. to move to newer versions):
#   rm -rf .venv && make test CONSTRAINTS=/dev/null   # newest releases the floors allow; runs the suite
#   .venv/bin/python tools/gen_constraints.py > constraints.txt   # if it passed
# (`make constraints` runs the last line.)""")
    for line in pin_lines(pins):
        print(line)


if __name__ == "__main__":
    main()
