"""The domain's values and rules, with no storage.

- `records.py`: the user's profile, challenges, bypasses, devices (plain dataclasses, their rules);
- `factors.py`: the registry of sign-in methods as the profile and the store see them (filled by methods/);
- `policy.py`: the sign-in policy; `lockout.py`: the lockout rule; `networks.py`: trusted networks;
- `phone.py`: which phone numbers are accepted, masking; `context.py`: the sign-in context a caller sends.
"""
