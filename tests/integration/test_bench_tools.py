"""The measuring tools keep working as the code under them changes: each runs a few flows against Azurite
and the emulator here (their numbers are not asserted: docs/testing.md, speed is measured, not tested)."""
from __future__ import annotations

from tools import bench_cpu


def test_bench_cpu_measures_every_step(deps):
    cpu = bench_cpu.measure(deps, 6)  # five warm-up users are dropped
    assert set(cpu) == set(bench_cpu.STEPS)
    assert all(len(samples) == 1 and samples[0] > 0 for samples in cpu.values())
