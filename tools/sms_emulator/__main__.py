"""`python -m tools.sms_emulator ...` (from the repository root) starts the emulator."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
