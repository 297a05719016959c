"""twostep's domain: everything that decides lives here, with no azure.functions import.

Seams: `store/` is the only package that knows Table Storage; a decision on a user runs on a unit of
work (`store.UserRows`, via `Deps.in_unit`): the profile and named rows read in one query as typed models,
changes registered (`add`, `save`, `delete`, `audit`) and committed in one ETag-conditional transaction
whose audit events reach `Store.after_commit` hooks; `models.py` holds plain dataclasses and rules (their
rows are `store/mapping.py`'s); a flow returns typed results (`results.py`) that functions/ maps to HTTP;
`methods.py` holds one class per sign-in
method behind one protocol and the `METHODS` table (flows never branch on a method's name);
`errors.py` is the one problem hierarchy (crypto raises its own `CryptoError`, which the HTTP edge
maps to a 503 problem); `deps.py` wires settings, clock, keys and stores and sets the audit retention
once (`Deps.in_unit`, `Deps.audit`, `Deps.refusal`). The flows: signin (evaluate, begin, bypass use),
verify (verify, fraud report), enrolment, admin, delivery + redrive (SMS queue and sweeper), oath
(hardware-token import; oath_csv parses and checks the upload without Storage); each decision reads the
policy once and passes it on. What they share about a challenge (build, start, load, replay, view) is in
challenge_rows.
"""
