"""The twostep Function App: registers the blueprints in functions/, nothing else."""
import azure.functions as func

from functions import (
    admin,
    challenges,
    enrolment,
    events,
    health,
    maintenance,
    oath,
    openapi,
    passkeys,
    recovery,
    sms_sender,
    telemetry,
    tryit,
)

telemetry.configure()  # before the first request: the one configuration path (functions/telemetry.py)

app = func.FunctionApp()
app.register_functions(enrolment.bp)
app.register_functions(challenges.bp)
app.register_functions(admin.bp)
app.register_functions(oath.bp)
app.register_functions(health.bp)
app.register_functions(sms_sender.bp)
app.register_functions(maintenance.bp)
app.register_functions(events.bp)
app.register_functions(recovery.bp)
app.register_functions(passkeys.bp)
app.register_functions(tryit.bp)
app.register_functions(openapi.bp)
