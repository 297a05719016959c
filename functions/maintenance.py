"""Maintenance: the hourly timer sweeps the due items (shared/channels/due.py), moves OATH index rows of the earlier
plain-text format to keyed ones and purges rows past their retention (Table Storage has no TTL), all within
one time budget (shared/ops/purge.py). The due sweep's chain runs on its queue only while something is due, so
an idle deployment runs nothing but the hourly timer and can scale to zero."""
import logging
import time

import azure.functions as func

from shared.delivery import sweeper
from shared.ops.purge import hourly
from shared.settings import DUE_QUEUE, STORAGE_CONNECTION
from shared.wiring import get_deps

from .tracing import invocation

bp = func.Blueprint()
log = logging.getLogger("twostep.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *", run_on_startup=False)
@invocation("timer")
def purge_expired(timer: func.TimerRequest) -> None:
    started = time.monotonic()
    deps = get_deps()
    log.info("due sweep: %s", sweeper.hourly(deps))
    run = hourly(deps, started=started)
    log.info("purged %d expired rows (%d pages%s; %s)", run.deleted, run.pages, ", resumed" if run.resumed else "",
             "scan complete" if run.complete else "time budget spent, the next run resumes")


@bp.queue_trigger(arg_name="msg", queue_name=DUE_QUEUE, connection=STORAGE_CONNECTION)
@invocation("pubsub")
def sweep_due(msg: func.QueueMessage) -> None:
    log.info("due sweep: %s", sweeper.on_chain_message(get_deps(), msg.get_body()))
