"""Thin triggers: parse the request, call shared/, map the result or error to HTTP. Status codes,
headers and problem+json bodies are made here (`http.py`: `respond`, `problem` with each error's own
`headers()`, the `endpoint` guard, which also maps crypto's `CryptoError` to its 503 problem, and
`location`, a created resource's `Location` from the request's own route path); shared/ never imports
azure.functions."""
