"""Where this process runs: every guard that must not fail open in Azure asks `running_in_azure`."""
from __future__ import annotations

from collections.abc import Mapping

# Variables App Service sets on every App Service / Functions instance and no twostep setting ever sets.
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")


def running_in_azure(environ: Mapping[str, str]) -> bool:
    """Whether this process runs in Azure: any one platform marker (non-empty) is enough. Every guard that
    must not fail open there (the example keys and webhook secret, the test clock) asks this one function,
    so a platform that sets only one of the markers cannot slip past one guard and not the other."""
    return any(environ.get(marker) for marker in AZURE_MARKERS)
