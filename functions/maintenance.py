"""Timer triggers: purge rows past their retention (Table Storage has no TTL), and re-drive SMS challenges
whose delivery is still `queued` (a failed enqueue or a message stuck invisible; see shared/redrive.py).
The hourly run also moves OATH index rows of the earlier plain-text format to keyed ones (shared/purge.py)."""
import logging

import azure.functions as func

from shared.deps import get_deps
from shared.purge import hourly
from shared.redrive import sweep

bp = func.Blueprint()
log = logging.getLogger("twostep.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *", run_on_startup=False)
def purge_expired(timer: func.TimerRequest) -> None:
    run = hourly(get_deps())
    log.info("purged %d expired rows (%d pages%s; %s)", run.deleted, run.pages, ", resumed" if run.resumed else "",
             "scan complete" if run.complete else "time budget spent, the next run resumes")


# Every 15 s: with REDRIVE_AFTER (20 s) a stuck SMS is re-sent 20-35 s after its begin, well inside the
# code lifetime (60-600 s). An idle run is one range query that finds nothing.
@bp.timer_trigger(arg_name="timer", schedule="*/15 * * * * *", run_on_startup=False)
def redrive_sms(timer: func.TimerRequest) -> None:
    outcome = sweep(get_deps())
    if outcome:
        log.info("sms sweep: %s", outcome)
