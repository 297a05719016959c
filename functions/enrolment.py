"""Enrolment routes: add a phone or an authenticator app, read a user's methods, remove a method."""
import azure.functions as func

from shared.flows import enrolment
from shared.wiring import get_deps

from .http import endpoint, idempotency_key, json_body, respond, route_param
from .results import answer

bp = func.Blueprint()


@bp.route(route="v1/users/{userId}/phone", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def enrol_phone(req: func.HttpRequest) -> func.HttpResponse:
    return answer(req, enrolment.enrol_phone(get_deps(), route_param(req, "userId"), json_body(req),
                                             idempotency_key(req)))


@bp.route(route="v1/users/{userId}/totp", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def enrol_totp(req: func.HttpRequest) -> func.HttpResponse:
    body = json_body(req, required=False)
    return answer(req, enrolment.enrol_totp(get_deps(), route_param(req, "userId"), body, idempotency_key(req)))


@bp.route(route="v1/users/{userId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def get_user(req: func.HttpRequest) -> func.HttpResponse:
    return respond(200, enrolment.get_user(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/users/{userId}/methods/{methodType}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@endpoint
def delete_method(req: func.HttpRequest) -> func.HttpResponse:
    body = json_body(req, required=False)
    enrolment.delete_method(get_deps(), route_param(req, "userId"), route_param(req, "methodType"), body)
    return respond(204)
