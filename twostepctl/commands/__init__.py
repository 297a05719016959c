"""The verb groups, in the order `--help` lists them. A new group is a module with `register(groups)`
added here (the planned `users list|groups|erase` would be `users.py`)."""
from . import access_pass, bypass, keys, methods, oath, policy, user

MODULES = (bypass, user, access_pass, methods, policy, oath, keys)
