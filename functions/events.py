"""Queue trigger: deliver each security event on `events` to the webhook (N2). An exception leaves the
message to the host's retries; after maxDequeueCount it is parked in `events-poison` and stays there
(no trigger reads it) for an operator to inspect or move back."""
import logging

import azure.functions as func

from shared.channels.webhook import WebhookFailed, deliver_event
from shared.kernel import signals
from shared.settings import EVENTS_QUEUE, STORAGE_CONNECTION, get_settings

from .tracing import invocation

bp = func.Blueprint()
log = logging.getLogger("twostep.events")


@bp.queue_trigger(arg_name="msg", queue_name=EVENTS_QUEUE, connection=STORAGE_CONNECTION)
@invocation("pubsub")
def deliver_security_event(msg: func.QueueMessage) -> None:
    settings = get_settings()
    try:
        outcome = deliver_event(settings.webhook_url, settings.webhook_secret, msg.get_body())
    except Exception as exc:  # logged for the webhook alerts, then re-raised: the host retries or parks it
        reason = str(exc) if isinstance(exc, WebhookFailed) else type(exc).__name__
        signals.queue_try_failed(log, msg.dequeue_count, reason)
        raise
    log.info("event message %s: %s", msg.id, outcome)
