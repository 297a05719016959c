"""Thin triggers: parse the request, call shared/, map the result or error to HTTP. Status codes,
headers and problem+json bodies are made here (`http.py`: `respond`, `problem` with each error's own
`headers()`, the `endpoint` guard); shared/ never imports azure.functions."""
