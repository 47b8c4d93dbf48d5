"""``python -m simulator.momo --port 8090 --approve-after-ms 2000``."""

from __future__ import annotations

import sys

from simulator.momo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
