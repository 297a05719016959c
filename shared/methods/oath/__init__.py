"""Hardware tokens (OATH TOTP): the CSV upload, the keyed serial index, the import saga.

- `csv_upload.py`: parses and checks the upload, without Storage; `serial_index.py`: the keyed serial
  index (which user holds a serial); `importer.py`: the import saga; `reservation.py`: its steps on that index (reserve,
  release, confirm).
"""
