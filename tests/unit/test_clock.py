"""The test clock (tools/devhost/'s DEVHOST_CLOCK_FILE): honoured only when installed, refused and
ignored in Azure, where the system clock alone decides."""
from datetime import datetime, timedelta, timezone

import pytest

from shared.kernel import clock as clock_module
from shared.kernel.clock import FileClock, SystemClock, install_test_clock, process_clock
from tests.clocks import FixedClock

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def no_installed_clock(monkeypatch):
    monkeypatch.setattr(clock_module, "_test_clock", None)


def test_file_clock_reads_the_pinned_instant_on_every_call(tmp_path):
    path = tmp_path / "clock"
    path.write_text(repr(T0.timestamp()))
    clock = FileClock(path)
    assert clock.now() == T0
    path.write_text(repr(T0.timestamp() + 30.5))
    assert (clock.now() - T0).total_seconds() == 30.5
    path.write_text("")
    assert clock.now() not in (T0, T0 + timedelta(seconds=30.5)) and clock.now().tzinfo is timezone.utc  # real time


def test_the_process_clock_is_the_system_clock_unless_a_test_clock_is_installed():
    assert isinstance(process_clock({}), SystemClock)
    fixed = FixedClock(T0)
    install_test_clock(fixed, {})
    assert process_clock({}) is fixed


@pytest.mark.parametrize("marker", ["WEBSITE_SITE_NAME", "WEBSITE_INSTANCE_ID"])
def test_refused_and_ignored_in_azure(marker):
    azure = {marker: "twostep-prod"}
    with pytest.raises(RuntimeError, match="refused when running in Azure"):
        install_test_clock(FixedClock(T0), azure)
    assert isinstance(process_clock(azure), SystemClock)
    install_test_clock(FixedClock(T0), {})  # installed, then the process turns out to run in Azure
    assert isinstance(process_clock(azure), SystemClock)
    assert isinstance(process_clock({marker: ""}), FixedClock)  # an empty value is not Azure
