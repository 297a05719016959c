"""The twostep Function App: registers the blueprints in functions/, nothing else."""
import azure.functions as func

from functions import admin, challenges, enrolment, health, maintenance, oath, sms_sender

app = func.FunctionApp()
for blueprint in (enrolment.bp, challenges.bp, admin.bp, health.bp, sms_sender.bp, maintenance.bp, oath.bp):
    app.register_functions(blueprint)
