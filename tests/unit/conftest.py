"""Make the repository's packages importable for the unit tests.

The project is not installed into the venv and pytest's default ``prepend``
import mode only puts this directory on ``sys.path``. Remove this file once
``pythonpath = ["."]`` (pytest config) or an editable install provides it.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
