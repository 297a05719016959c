"""The decisions, one module per use case; each reads the policy once and returns typed results.

- `signin.py` (evaluate, begin, bypass use), `verify.py` (verify, fraud report), `challenge_rows.py` (what
  the flows share about a challenge), `enrolment.py`, `step_up.py` (the proof a change of factors needs),
  `removal.py`, `access_pass.py` and `recovery_codes.py` (the recovery factors), `admin.py`.
"""
