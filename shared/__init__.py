"""twostep's domain: everything that decides lives here, with no azure.functions import.

Seams: `store/` is the only package that knows Table Storage (rows, ETags, transactions; its
`Store.after_commit` hooks see each commit's audit events); `methods.py` holds one class per sign-in
method behind one protocol and the `METHODS` table (flows never branch on a method's name);
`errors.py` is the one problem hierarchy; `deps.py` wires settings, clock, keys and stores and sets
the audit retention once (`Deps.audit`, `Deps.refusal`). The flows: challenges (begin, verify, fraud
report), enrolment, admin, delivery + redrive (SMS queue and sweeper), oath (hardware-token import).
"""
