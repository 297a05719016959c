"""Profile rows keep what replay and lockout decisions need, in types Table Storage accepts."""
from datetime import datetime, timezone

from azure.data.tables import TableEntity

from shared.model.records import AccessPassState, Profile, TotpDevice
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


NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def written(p: Profile) -> Profile:
    """`p` after the unit of work wrote it and the next reader read it back (UserRows.save does the same)."""
    before = profile_from(p.row) if p.row is not None else None
    p.record_changes(before)
    entity = TableEntity(to_entity(p))
    entity._metadata = {"etag": "x"}  # what a read row carries
    back = profile_from(entity)
    return back


def test_the_methods_version_grows_with_every_change_of_factors_and_never_repeats():  # E1
    p = written(Profile("alice", NOW))
    seen = [p.methods_version]
    changes = [
        lambda p: setattr(p, "phone", "k:sealed"),
        lambda p: p.totp.append(TotpDevice(id="d1", secret="k:s", active=False)),
        lambda p: setattr(p.totp[0], "active", True),
        lambda p: setattr(p, "access_pass", AccessPassState("A", "h", NOW)),
        lambda p: setattr(p, "access_pass", None),  # back to the content before the pass: A -> B -> A
        lambda p: (setattr(p, "recovery_codes", ["c1", "c2"]), setattr(p, "recovery_codes_at", NOW)),
        lambda p: p.recovery_codes.pop(),  # a code spent
        lambda p: setattr(p, "totp", []),
        lambda p: setattr(p, "phone", None),
    ]
    for change in changes:
        change(p)
        p = written(p)
        seen.append(p.methods_version)
    assert seen == list(range(len(changes) + 1))
    p.failures, p.totp_last_at, p.blocked_until = 3, 60, NOW  # a sign-in's bookkeeping is not a change of factors
    assert written(p).methods_version == len(changes)


def test_an_account_stays_claimed_once_it_held_a_factor():  # R7
    p = written(Profile("alice", NOW))
    assert p.claimed is False and not p.is_claimed()
    p.totp.append(TotpDevice(id="hw", secret="k:s", kind="hardware", active=False))  # imported, never used
    p = written(p)
    assert p.claimed is True
    p.totp = []
    p = written(p)
    assert p.claimed is True and p.is_claimed() and not p.held_a_factor()


def test_a_profile_stored_before_the_flag_derives_it_from_what_it_holds():  # R7, migration
    legacy = {"PartitionKey": "bob", "RowKey": "profile", "createdAt": NOW}
    assert profile_from(TableEntity(legacy)).claimed is None  # unknown: step_up.claimed asks the audit trail
    assert profile_from(TableEntity(legacy)).methods_version == 0
    for held in ({"phone": "k:p"}, {"totp": '[{"id": "hw", "secret": "k:s", "algorithm": "SHA1", "digits": 6, '
                                            '"period": 60, "lastStep": -1, "kind": "hardware", "active": false}]'},
                 {"accessPassHistory": '[{"accessPassId": "A", "status": "used"}]'}, {"recoveryCodesAt": NOW}):
        p = profile_from(TableEntity({**legacy, **held}))
        assert p.claimed is None and p.is_claimed(), held
    unknown = profile_from(TableEntity(legacy))
    unknown.failures = 1
    assert written(unknown).claimed is None  # writing it keeps it unknown: nothing was decided
