"""The domain's values and rules, with no storage.

- `records.py`: the user's profile, challenges, bypasses, devices (plain dataclasses, their rules);
- `policy.py`: the sign-in policy and its lockout rule; `networks.py`: trusted networks;
- `phone.py`: phone numbers (masking); `context.py`: the sign-in context a caller sends.
"""
