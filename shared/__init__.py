"""twostep's domain: everything that decides lives here, with no azure.functions import.

Seams: `store/` is the only package that knows Table Storage (rows are built with `store.new_row`, a
read row's ETag travels with `store.same_version`, transactions are `Tx`; its `Store.after_commit` hooks
see each commit's audit events); `methods.py` holds one class per sign-in
method behind one protocol and the `METHODS` table (flows never branch on a method's name);
`errors.py` is the one problem hierarchy (crypto raises its own `CryptoError`, which the HTTP edge
maps to a 503 problem); `deps.py` wires settings, clock, keys and stores and sets
the audit retention once (`Deps.audit`, `Deps.refusal`). The flows: signin (evaluate, begin, bypass use),
verify (verify, fraud report), enrolment, admin, delivery + redrive (SMS queue and sweeper), oath
(hardware-token import; oath_csv parses and checks the upload without Storage); each decision reads the
policy once and passes it on. What they share about a challenge (build, start, load, replay, view) is in
challenge_rows.
"""
