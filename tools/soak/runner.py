"""One soak run: enrol the users, start the client threads and the event thread, walk the phase plan
(setting both fault proxies at each phase), stop the load, then settle, check and report."""
from __future__ import annotations

import threading
import time

from .checks import final_round, settle, settle_events
from .client import Client, Stats
from .config import CLIENT_TIMEOUT, FINAL_USERS, PHASES
from .environment import Environment
from .load import Load
from .report import report


class Soak:
    def __init__(self, clients: int, scale: float) -> None:
        self.clients, self.scale = clients, scale
        self.stats = Stats()
        self.stop = threading.Event()
        self.env = Environment()
        self.load = Load(self.env, self.stats, self.stop)

    def start(self) -> None:
        self.env.start()

    def close(self) -> None:
        self.env.close()

    def run(self) -> int:
        setup = Client(self.env.base, self.stats)
        people = [self.load.enrol(setup, n) for n in range(self.clients * 3 + 3 + FINAL_USERS)]
        wrong_users, bypass_users, event_user = people[:1], people[1:2], people[2]
        users, final_users = people[3:-FINAL_USERS], people[-FINAL_USERS:]
        threads = [threading.Thread(target=self.load.worker, args=(users, wrong_users[0], bypass_users[0]),
                                    daemon=True) for _ in range(self.clients)]
        threads.append(threading.Thread(target=self.load.event_worker, args=(event_user,), daemon=True))
        for t in threads:
            t.start()
        for name, seconds, table_mode, queue_mode in PHASES:
            with self.stats.lock:
                self.stats.phase = name
            self.env.table.set_mode(table_mode, delay=0.3, slow_chunk=4096)
            self.env.queue.set_mode(queue_mode, delay=0.3, slow_chunk=4096)
            time.sleep(seconds * self.scale)
        self.env.table.set_mode("pass")
        self.env.queue.set_mode("pass")
        self.stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 10)
        with self.stats.lock:
            self.stats.phase = "final"
        lost, duplicates, waited = settle(self.env, self.stats)
        event_check = settle_events(self.env)
        final_ok = final_round(self.load, final_users)
        return report(self.stats, lost, duplicates, waited, final_ok, event_check)
