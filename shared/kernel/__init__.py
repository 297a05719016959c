"""The kernel: what every layer may use and which imports nothing else of the project.

- `errors.py`: the one problem hierarchy (each error's status, stable `code` and headers).
- `ids.py`: row keys and challenge ids; `validation.py`: the input formats (every input matched whole);
- `results.py`: what a flow decided, as values; `clock.py`: the injected clock;
- `environment.py`: whether the process runs in Azure.
- `signals.py`: the log records the alerts in infra/ count.
"""
