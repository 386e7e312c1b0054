"""``python -m asl_recog.cli``: the ``asl-recog`` command, for environments without the script."""

from __future__ import annotations

import sys

from asl_recog.cli._main import main

if __name__ == "__main__":
    sys.exit(main())
