"""Timer trigger: purge rows past their retention (Table Storage has no TTL)."""
import logging

import azure.functions as func

from shared.deps import get_deps
from shared.purge import purge

bp = func.Blueprint()
log = logging.getLogger("twostep.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *", run_on_startup=False)
def purge_expired(timer: func.TimerRequest) -> None:
    run = purge(get_deps())
    log.info("purged %d expired rows (%d pages%s; %s)", run.deleted, run.pages, ", resumed" if run.resumed else "",
             "scan complete" if run.complete else "time budget spent, the next run resumes")
