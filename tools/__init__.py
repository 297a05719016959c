"""Developer tools, run from the repository root as `python -m tools.<name>` (dev host, Azurite and SMS emulator
launchers, fault proxy, benchmarks, soak, mutation, table backup); tests import them as `tools.<name>`."""
