"""Profile rows keep what replay and lockout decisions need, in types Table Storage accepts."""
from datetime import datetime, timezone

from azure.data.tables import TableEntity

from shared.models import Profile, TotpDevice
from shared.store import profile_from, to_entity


def test_last_totp_step_survives_a_round_trip_past_2038():
    later = int(datetime(2040, 1, 1, tzinfo=timezone.utc).timestamp())  # beyond an Int32
    p = Profile("alice", datetime(2039, 1, 1, tzinfo=timezone.utc), totp_last_at=later, consecutive_failures=42,
                lock_count=3)
    entity = to_entity(p)
    assert isinstance(entity["totpLastAt"], datetime)
    back = profile_from(TableEntity(entity))
    assert (back.totp_last_at, back.consecutive_failures, back.lock_count) == (later, 42, 3)


def test_a_row_written_before_these_fields_reads_as_a_clean_slate():
    p = profile_from(TableEntity(PartitionKey="bob", RowKey="profile", createdAt=datetime.now(timezone.utc)))
    assert (p.totp_last_at, p.consecutive_failures, p.lock_count) == (-1, 0, 0)


def test_methods_tag_changes_with_every_method_change():
    p = Profile("alice", datetime(2026, 1, 1, tzinfo=timezone.utc))
    tags = {p.methods_tag()}
    p.phone = "k:sealed"
    tags.add(p.methods_tag())
    p.totp.append(TotpDevice(id="d1", secret="k:s", active=False))
    tags.add(p.methods_tag())
    p.totp[0].active = True
    tags.add(p.methods_tag())
    p.failures = 3  # not a method change
    tags.add(p.methods_tag())
    assert len(tags) == 4
