"""Passkey routes: start a registration (verified by the generic verify route), list, rename and remove
a user's passkeys; an operator removes one with a reason. Sign-in is the generic begin/verify."""
import azure.functions as func

from shared.flows import enrolment, passkeys
from shared.methods.passkey import Passkey
from shared.wiring import get_deps

from .admin_auth import admin_route
from .http import endpoint, idempotency_key, json_body, respond, route_param
from .results import answer

bp = func.Blueprint()
USER = func.AuthLevel.FUNCTION


@bp.route(route="v1/users/{userId}/passkeys", methods=["POST"], auth_level=USER)
@endpoint
def register_passkey(req: func.HttpRequest) -> func.HttpResponse:
    return answer(req, enrolment.enrol(get_deps(), Passkey.name, route_param(req, "userId"), json_body(req),
                                       idempotency_key(req)))


@bp.route(route="v1/users/{userId}/passkeys", methods=["GET"], auth_level=USER)
@endpoint
def list_passkeys(req: func.HttpRequest) -> func.HttpResponse:
    return respond(200, passkeys.list_passkeys(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/users/{userId}/passkeys/{passkeyId}", methods=["PATCH"], auth_level=USER)
@endpoint
def rename_passkey(req: func.HttpRequest) -> func.HttpResponse:
    return respond(200, passkeys.rename(get_deps(), route_param(req, "userId"), route_param(req, "passkeyId"),
                                              json_body(req)))


@bp.route(route="v1/users/{userId}/passkeys/{passkeyId}", methods=["DELETE"], auth_level=USER)
@endpoint
def delete_passkey(req: func.HttpRequest) -> func.HttpResponse:
    passkeys.remove(get_deps(), route_param(req, "userId"), route_param(req, "passkeyId"),
                          json_body(req, required=False))
    return respond(204)


@bp.route(route="v1/admin/users/{userId}/passkeys/{passkeyId}", methods=["DELETE"], auth_level=func.AuthLevel.ADMIN)
@admin_route
def admin_delete_passkey(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    passkeys.admin_remove(get_deps(), route_param(req, "userId"), route_param(req, "passkeyId"),
                                json_body(req), actor)
    return respond(204)
