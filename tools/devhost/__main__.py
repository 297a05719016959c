"""`python -m tools.devhost ...` (from the repository root) starts the dev host."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
