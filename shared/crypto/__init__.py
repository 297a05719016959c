"""Keys and secrets: nothing here reads Storage.

- `keys.py`: the keyrings, the `Sealer` (AES-GCM, key id in the value), the keyed index (`blind_index`),
  `derive_code` and the constant-time `codes_equal`;
- `otp.py`: TOTP; `recovery_secrets.py`: the format and keyed hash of access passes and recovery codes;
- `aad.py`: the associated data that binds a sealed value to its row; `device_tokens.py`: remembered devices.
"""
