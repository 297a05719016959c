"""Queue triggers: send the SMS for each challenge named in `sms-outbox`; mark delivery failed for each
message the host moved to `sms-outbox-poison` after maxDequeueCount failures."""
import logging

import azure.functions as func

from shared.delivery.sender import deliver, mark_failed
from shared.settings import SMS_POISON_QUEUE, SMS_QUEUE, STORAGE_CONNECTION
from shared.wiring import get_deps

from .tracing import invocation

bp = func.Blueprint()
log = logging.getLogger("twostep.sms_sender")


@bp.queue_trigger(arg_name="msg", queue_name=SMS_QUEUE, connection=STORAGE_CONNECTION)
@invocation("pubsub")
def send_sms(msg: func.QueueMessage) -> None:
    # Exceptions propagate on purpose: the host retries, then moves the message to the poison queue.
    outcome = deliver(get_deps(), msg.get_body(), msg.dequeue_count or 1)
    log.info("outbox message %s: %s", msg.id, outcome)


@bp.queue_trigger(arg_name="msg", queue_name=SMS_POISON_QUEUE, connection=STORAGE_CONNECTION)
@invocation("pubsub")
def sms_delivery_failed(msg: func.QueueMessage) -> None:
    outcome = mark_failed(get_deps(), msg.get_body())
    log.info("poison message %s: %s", msg.id, outcome)
