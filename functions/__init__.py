"""Thin triggers: parse the request, call shared/, map the result or error to HTTP."""
