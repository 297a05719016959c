"""Maintenance: `purge.py` (expired rows, hourly) and `reseal.py` (re-seal under the newest key,
key status).
"""
