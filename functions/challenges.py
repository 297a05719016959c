"""Challenge routes: begin, read, verify, report fraud."""
import azure.functions as func

from shared.flows import challenge_rows, signin, verify
from shared.wiring import get_deps

from .http import endpoint, idempotency_key, json_body, respond, route_param
from .results import answer

bp = func.Blueprint()


@bp.route(route="v1/challenges", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def begin_challenge(req: func.HttpRequest) -> func.HttpResponse:
    return answer(req, signin.begin(get_deps(), json_body(req), idempotency_key(req)))


@bp.route(route="v1/challenges/{challengeId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def get_challenge(req: func.HttpRequest) -> func.HttpResponse:
    return respond(200, challenge_rows.get(get_deps(), route_param(req, "challengeId")))


@bp.route(route="v1/challenges/{challengeId}/verify", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def verify_challenge(req: func.HttpRequest) -> func.HttpResponse:
    body = json_body(req)
    return respond(200, verify.verify(get_deps(), route_param(req, "challengeId"), body))


@bp.route(route="v1/challenges/{challengeId}/report-fraud", methods=["POST"],
          auth_level=func.AuthLevel.FUNCTION)
@endpoint
def report_fraud(req: func.HttpRequest) -> func.HttpResponse:
    json_body(req, required=False)
    return respond(200, verify.report_fraud(get_deps(), route_param(req, "challengeId")))
