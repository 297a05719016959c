"""twostep's domain: everything that decides lives here, with no azure.functions import.

Layers, lowest first; a package imports only from itself and the ones before it (tests/unit/test_layers.py):
kernel/ (errors, ids, validation, results, clock), settings.py, clients.py, crypto/, model/ (records,
policy, networks, phone, context), store/ (the only package that knows Table Storage), channels/ (SMS
outbox and gateway, security events, webhooks), ports.py (the narrow protocols a flow or method is handed),
methods/ (one module per sign-in method, the `METHODS` table; flows never branch on a method's name),
delivery/ (the SMS sender and sweeper), flows/ (the decisions), ops/ (purge, reseal), deps.py (`Deps`, the
one object that satisfies every port) and wiring.py, the composition root that builds it and that only
functions/, tests/ and tools/ import.

A decision on a user runs on a unit of work (`store.UserRows`, via `ports.Units.in_unit`): the profile and named
rows read in one query as typed models, changes registered (`add`, `save`, `delete`, `audit`) and committed
in one ETag-conditional transaction whose audit events reach `Store.after_commit` hooks; a flow returns
typed results (`kernel/results.py`) that functions/ maps to HTTP; each decision reads the policy once and
passes it on.
"""

from .methods import registry as _registry  # noqa: E402,F401  (registers the built-in methods, see model/factors.py)
