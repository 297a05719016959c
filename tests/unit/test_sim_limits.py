"""tools/sim_limits.py replays a bursty trace against the real limit code on the in-memory table: run small,
with shards few enough to be fought over and limits that run out, it must report lost races, refusals,
no stranded unit and no overshoot."""
from tools import sim_limits


def test_a_small_bursty_trace_never_overshoots():
    env = {"MFA_SMS_LIMIT_SHARDS": "8", "MFA_SMS_DAILY_BUDGET": "150", "MFA_SMS_PER_PREFIX_PER_HOUR": "40",
           "MFA_SMS_PER_IP_PER_HOUR": "10000"}
    r = sim_limits.run(rate=10, peak=10, peak_seconds=2, duration=6, window=0.05, seed=3, env=env, prefixes=5)
    assert r.overshoot == 0 and r.stranded == 0 and r.gave_up == 0
    assert r.sent == 150 and sum(r.refused.values()) > 0  # the whole budget spent, then refusals
    assert r.lost_races > 0 and r.peak_in_flight > 4  # the peak did meet on shards
    assert "| **0** |" in sim_limits.table([("small", r)])


def test_a_small_bursty_trace_over_lanes_never_overshoots_and_gives_back():
    env = {"MFA_SMS_LIMIT_SHARDS": "8", "MFA_SMS_DAILY_BUDGET": "150", "MFA_SMS_PER_PREFIX_PER_HOUR": "40",
           "MFA_SMS_PER_IP_PER_HOUR": "10000", "MFA_SMS_LIMIT_LANES": "4"}
    r = sim_limits.run(rate=10, peak=10, peak_seconds=2, duration=6, window=0.05, seed=3, env=env, prefixes=5)
    assert r.overshoot == 0 and r.stranded == 0 and r.gave_up == 0  # the audit also found no lost update
    assert r.sent == 150 and sum(r.refused.values()) > 0
    assert r.lost_races > 0 and r.given_back > 0  # last lanes lost races, and their first lanes gave back
    one = sim_limits.run(rate=10, peak=10, peak_seconds=2, duration=6, window=0.05, seed=3,
                         env={**env, "MFA_SMS_LIMIT_LANES": "1"}, prefixes=5)
    assert 0 < r.max_entities < one.max_entities  # the busiest partition-second carries less over lanes
