"""The verb groups, in the order `--help` lists them. A new group is a module with `register(groups)`
added here."""
from . import access_pass, bypass, keys, methods, oath, policy, user, users

MODULES = (bypass, user, users, access_pass, methods, policy, oath, keys)
