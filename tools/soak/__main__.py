"""`python -m tools.soak ...` (from the repository root) runs the soak."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
