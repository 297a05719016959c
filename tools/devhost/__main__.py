"""`python tools/devhost ...` (or `python -m devhost` with tools/ on the path) starts the dev host.

Run as a directory, Python puts tools/devhost/ itself first on sys.path; it is replaced by tools/ so the
package imports as `devhost` (with `loopback` beside it) and its module names never shadow others.
"""

import sys
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parent.parent)
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = TOOLS
elif TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from devhost.cli import main  # noqa: E402 - needs tools/ on sys.path first

if __name__ == "__main__":
    sys.exit(main())
