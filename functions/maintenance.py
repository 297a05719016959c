"""Maintenance: the hourly timer purges rows past their retention (Table Storage has no TTL) and sweeps the
due items (shared/due.py); the due sweep's chain runs on its queue only while something is due, so an
idle deployment runs nothing but the hourly timer and can scale to zero."""
import logging
import time

import azure.functions as func

from shared.config import DUE_QUEUE, STORAGE_CONNECTION
from shared.deps import get_deps
from shared.purge import BUDGET_SECONDS, purge
from shared.sweeper import hourly, on_chain_message

bp = func.Blueprint()
log = logging.getLogger("twostep.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *", run_on_startup=False)
def purge_expired(timer: func.TimerRequest) -> None:
    started = time.monotonic()
    deps = get_deps()
    log.info("due sweep: %s", hourly(deps))
    run = purge(deps, budget_seconds=max(BUDGET_SECONDS - (time.monotonic() - started), 1.0))
    log.info("purged %d expired rows (%d pages%s; %s)", run.deleted, run.pages, ", resumed" if run.resumed else "",
             "scan complete" if run.complete else "time budget spent, the next run resumes")


@bp.queue_trigger(arg_name="msg", queue_name=DUE_QUEUE, connection=STORAGE_CONNECTION)
def sweep_due(msg: func.QueueMessage) -> None:
    log.info("due sweep: %s", on_chain_message(get_deps(), msg.get_body()))
