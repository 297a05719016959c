"""The service's ways out, which know messages, not decisions.

- `sms.py`: the SMS outbox queue and the ACS gateway;
- `events.py`: audit rows -> CloudEvents on the events queue; `webhook.py`: their signed delivery.
- `queues.py`: the one way a message goes onto a Storage queue.
- `due.py`: work a commit makes due, recorded before the commit and kept until done.
"""
