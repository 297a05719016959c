"""SMS delivery: the sender the queue trigger runs (`sender.py`) and the due list and
sweeper that re-drive what the queue lost (`redrive.py`). They ask the methods whether a challenge is
delivered, so they sit above `methods/`.
`sweeper.py`: runs of the due sweep over every kind of due item.
"""
