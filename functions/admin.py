"""Admin routes (auth level ADMIN: the host's master key; plus the admin app role under Entra ID), each
behind `admin_route`, which hands it the operator (functions/admin_auth.py)."""
import azure.functions as func

from shared.flows import admin, user_listing
from shared.kernel.validation import MAX_POLICY_DOCUMENT_BYTES
from shared.ops import erasure, reseal
from shared.wiring import get_deps

from .admin_auth import admin_route
from .http import json_body, respond, route_param

bp = func.Blueprint()
ADMIN = func.AuthLevel.ADMIN


@bp.route(route="v1/admin/users/{userId}/bypass", methods=["POST"], auth_level=ADMIN)
@admin_route
def create_bypass(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(201, admin.create_bypass(get_deps(), route_param(req, "userId"), json_body(req), actor))


@bp.route(route="v1/admin/users/{userId}/bypass", methods=["GET"], auth_level=ADMIN)
@admin_route
def list_bypasses(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.list_bypasses(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/admin/users/{userId}/bypass", methods=["DELETE"], auth_level=ADMIN)
@admin_route
def revoke_bypass(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    admin.revoke_bypass(get_deps(), route_param(req, "userId"), actor)
    return respond(204)


@bp.route(route="v1/admin/users/{userId}/unblock", methods=["POST"], auth_level=ADMIN)
@admin_route
def unblock_user(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.unblock(get_deps(), route_param(req, "userId"), json_body(req), actor))


@bp.route(route="v1/admin/users/{userId}/audit", methods=["GET"], auth_level=ADMIN)
@admin_route
def user_audit(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.audit_events(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/admin/users/{userId}/groups", methods=["PUT"], auth_level=ADMIN)
@admin_route
def set_user_groups(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.set_groups(get_deps(), route_param(req, "userId"), json_body(req), actor))


@bp.route(route="v1/admin/users/{userId}/groups", methods=["GET"], auth_level=ADMIN)
@admin_route
def get_user_groups(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.get_groups(get_deps(), route_param(req, "userId")))


@bp.route(route="v1/admin/users", methods=["GET"], auth_level=ADMIN)
@admin_route
def list_users(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, user_listing.list_users(get_deps(), dict(req.params)))


@bp.route(route="v1/admin/users/{userId}", methods=["DELETE"], auth_level=ADMIN)
@admin_route
def erase_user(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    erasure.erase(get_deps(), route_param(req, "userId"), json_body(req), actor)
    return respond(204)


@bp.route(route="v1/admin/users/{userId}/revoke-sessions", methods=["POST"], auth_level=ADMIN)
@admin_route
def revoke_sessions(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.revoke_sessions(get_deps(), route_param(req, "userId"), actor))


@bp.route(route="v1/admin/policy", methods=["GET"], auth_level=ADMIN)
@admin_route
def get_policy(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.get_policy(get_deps()))


@bp.route(route="v1/admin/policy", methods=["PATCH"], auth_level=ADMIN)
@admin_route
def patch_policy(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, admin.patch_policy(get_deps(), json_body(req, limit=MAX_POLICY_DOCUMENT_BYTES), actor))


@bp.route(route="v1/admin/keys", methods=["GET"], auth_level=ADMIN)
@admin_route
def key_status(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, reseal.status(get_deps()))


@bp.route(route="v1/admin/keys/reseal", methods=["POST"], auth_level=ADMIN)
@admin_route
def reseal_keys(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    return respond(200, reseal.run_request(get_deps(), json_body(req, required=False), actor))
