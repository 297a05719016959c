"""Admin route: import hardware OATH tokens from Azure MFA's CSV upload format (auth level ADMIN)."""
import azure.functions as func

from shared.methods.oath import importer as oath
from shared.wiring import get_deps

from .admin_auth import admin_route
from .http import respond

bp = func.Blueprint()


@bp.route(route="v1/admin/oath-tokens", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@admin_route
def import_oath_tokens(req: func.HttpRequest, actor: str) -> func.HttpResponse:
    # the CSV body may be up to 1 MiB: shared.methods.oath.importer checks its size, not json_body
    return respond(201, oath.import_tokens(get_deps(), req.get_body(), actor))
