"""Recovery routes: temporary access passes and admin removal of methods (admin), per-device removal and
recovery codes (application)."""
import azure.functions as func

from shared.flows import access_pass, recovery_codes, removal
from shared.wiring import get_deps

from .admin_auth import admin_route
from .http import endpoint, idempotency_key, json_body, respond, route_param
from .results import answer

bp = func.Blueprint()
ADMIN = func.AuthLevel.ADMIN
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="v1/admin/users/{userId}/access-pass", methods=["POST"], auth_level=ADMIN)
@admin_route
def issue_access_pass(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(201, access_pass.issue(get_deps(), route_param(req, "userId"), json_body(req), actor))


@bp.route(route="v1/admin/users/{userId}/access-pass", methods=["GET"], auth_level=ADMIN)
@admin_route
def list_access_passes(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, access_pass.list_passes(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/admin/users/{userId}/access-pass", methods=["DELETE"], auth_level=ADMIN)
@admin_route
def revoke_access_pass(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    access_pass.revoke(get_deps(), route_param(req, "userId"), actor)
    return respond(204)


@bp.route(route="v1/admin/users/{userId}/methods/{methodType}", methods=["DELETE"], auth_level=ADMIN)
@admin_route
def admin_remove_method(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    removal.admin_remove_method(get_deps(), route_param(req, "userId"), route_param(req, "methodType"),
                                json_body(req), actor)
    return respond(204)


@bp.route(route="v1/admin/users/{userId}/methods/totp/{deviceId}", methods=["DELETE"], auth_level=ADMIN)
@admin_route
def admin_remove_device(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    removal.admin_remove_device(get_deps(), route_param(req, "userId"), route_param(req, "deviceId"),
                                json_body(req), actor)
    return respond(204)


@bp.route(route="v1/users/{userId}/methods/totp/{deviceId}", methods=["DELETE"], auth_level=FUNCTION)
@endpoint
def remove_device(req: func.HttpRequest) -> func.HttpResponse:
    body = json_body(req, required=False)
    removal.remove_device(get_deps(), route_param(req, "userId"), route_param(req, "deviceId"), body)
    return respond(204)


@bp.route(route="v1/users/{userId}/recovery-codes", methods=["POST"], auth_level=FUNCTION)
@endpoint
def generate_recovery_codes(req: func.HttpRequest) -> func.HttpResponse:
    body = json_body(req, required=False)
    return answer(req, recovery_codes.generate(get_deps(), route_param(req, "userId"), body, idempotency_key(req)))
