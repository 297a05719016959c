"""Admin authorization in one place (A1): `@admin_route` resolves who the operator is before the route runs
and hands the route that actor; the principal header is parsed here, at the HTTP edge, so the domain only
ever sees the actor string it writes into the audit record.

The host checks the master key (auth level ADMIN); `admin_actor` adds the Entra ID half. Every function
registered with auth level ADMIN carries the decorator's mark, and only those: tests/unit/test_admin_routes.py
walks the function app's own metadata to prove it, and tests/integration/test_http_admin_entra.py calls every
route in that generated list without the admin credential."""
import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from shared.kernel.errors import Forbidden
from shared.settings import Settings
from shared.wiring import get_deps

from .http import endpoint

ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
KEY_ACTOR = "admin-key"
_MARK = "__twostep_admin_route__"

AdminHandler = Callable[[func.HttpRequest, str], func.HttpResponse]


def admin_route(handler: AdminHandler) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """The route, behind the `endpoint` guard, called as `handler(req, actor)` once the actor is known;
    a refused caller gets the 403 problem before the handler reads anything (body included)."""

    def with_actor(req: func.HttpRequest) -> func.HttpResponse:
        return handler(req, admin_actor(req.headers, get_deps().settings))

    # Name and docs only: the worker binds parameters by the signature, which must stay `(req)`, so
    # no `__wrapped__` may point at the two-argument handler.
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(with_actor, attribute, getattr(handler, attribute))
    guarded = endpoint(with_actor)
    setattr(guarded, _MARK, True)
    return guarded


def is_admin_route(fn: Any) -> bool:
    """Whether `fn` (a function app's user function) was wrapped by `admin_route`."""
    return getattr(fn, _MARK, False) is True


def admin_actor(headers: Mapping[str, str], settings: Settings) -> str:
    """The operator behind an admin call, for the audit record.

    With App Service authentication on (`WEBSITE_AUTH_ENABLED`, set by the platform), the platform strips
    client-sent `X-MS-CLIENT-PRINCIPAL*` headers and injects its own; the principal must be an Entra ID one
    holding the admin app role. Without it, the host's master key (checked by the host, auth level ADMIN)
    is the only credential, the actor is the key itself and a principal header is never read: anyone could
    have sent it. `MFA_ADMIN_ENTRA_REQUIRED` (set by the template when Entra protection is configured) turns
    "platform authentication is off" from a fallback into a refusal, so a platform that did not switch it
    on fails closed instead of leaving the admin routes behind the master key alone.
    """
    if not settings.platform_auth_enabled:
        if settings.admin_entra_required:
            raise Forbidden("Admin routes require Entra ID sign-in, which is not active on this app.")
        return KEY_ACTOR
    raw = headers.get("x-ms-client-principal")
    if not raw:
        raise Forbidden("An Entra ID principal with the admin role is required.")
    try:
        principal = json.loads(base64.b64decode(raw, validate=True))
        claims = principal.get("claims") or []
        roles = {c.get("val") for c in claims if isinstance(c, dict) and c.get("typ") in ROLE_CLAIMS}
        provider = principal.get("auth_typ")
    except (binascii.Error, ValueError, AttributeError, TypeError):
        raise Forbidden() from None
    if provider != "aad" or settings.admin_role not in roles:
        raise Forbidden("The principal does not hold the admin role.")
    name = headers.get("x-ms-client-principal-name") or headers.get("x-ms-client-principal-id") or "entra-principal"
    return name[:256]
