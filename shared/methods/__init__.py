"""The sign-in methods: one class per method behind one protocol, and the `METHODS` table.

- `base.py`: the `Method` and `Enrolment` protocols and the challenge purposes; `registry.py`: `METHODS`,
  `register` (a test's own method), `delivers`; adding a method: docs/extending.md;
- `sms.py`, `totp.py`, `access_pass.py`, `recovery_code.py` (+ `typed_secret.py`, what the recovery
  methods share); `limits.py`: the SMS spending limits an SMS challenge or enrolment spends (over several
  partitions with `MFA_SMS_LIMIT_LANES` > 1: `limits_lanes.py`);
- `oath/`: the hardware-token (OATH TOTP) import beside TOTP.
"""
