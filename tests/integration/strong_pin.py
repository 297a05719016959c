"""A throw-away phishing-resistant method for the authentication-strength tests (W8): the static PIN of
test_extending.py under another name, marked `phishing_resistant`, so the strength's rules are proven
without naming or depending on the real passkey method. `python -m tests.integration.strong_pin ...` runs the
dev host with it registered (the host imports the app in its own process)."""
from __future__ import annotations

import sys
from typing import ClassVar

from tests.integration.test_extending import StaticPin

NAME = "strong_pin"


class StrongPin(StaticPin):
    name: ClassVar[str] = NAME
    phishing_resistant: ClassVar[bool] = True
    strength_recovery: ClassVar[bool] = False
    enrol_action: ClassVar[str] = "enrol_strong_pin"
    enrol_scope: ClassVar[str] = "strong-pin"


if __name__ == "__main__":
    from shared.methods.registry import register
    from tools.devhost.cli import main

    with register(StrongPin()):
        sys.exit(main())
