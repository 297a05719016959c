"""Start and stop the pinned Azurite (tools/node_modules) as a child process, on loopback only.

The binary is started directly rather than through npx, because killing npx leaves Azurite running.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
AZURITE_BIN = TOOLS_DIR / "node_modules" / ".bin" / "azurite"

# The well-known Azurite development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    """A running Azurite: its process and the ports it answers on."""

    process: subprocess.Popen
    blob_port: int
    queue_port: int
    table_port: int
    location: str | None

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def stop(self) -> None:
        stop_process(self.process)


def connection_string(blob_port: int = 10000, queue_port: int = 10001, table_port: int = 10002) -> str:
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{DEV_ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{DEV_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{DEV_ACCOUNT};"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


def start_azurite(
    blob_port: int = 10000,
    queue_port: int = 10001,
    table_port: int = 10002,
    location: str | None = None,
    quiet: bool = True,
) -> Azurite:
    """Start Azurite; in memory unless `location` names a folder (so a restart keeps the data)."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `npm ci --prefix tools` (make does this)")
    args = [
        str(AZURITE_BIN), "--disableTelemetry", "--skipApiVersionCheck",
        "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
        "--blobPort", str(blob_port), "--queuePort", str(queue_port), "--tablePort", str(table_port),
    ]
    if quiet:
        args.append("--silent")
    if location:
        os.makedirs(location, exist_ok=True)
        args += ["--location", location]
    else:
        args.append("--inMemoryPersistence")
    out = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
    try:
        for port in (blob_port, queue_port, table_port):
            wait_for_port(port, process=process)
    except Exception:
        stop_process(process)
        raise
    return Azurite(process, blob_port, queue_port, table_port, location)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a child started with start_new_session, and everything in its process group."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def node_available() -> bool:
    return shutil.which("node") is not None
