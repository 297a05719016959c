"""GET /api/health: anonymous; says whether settings are valid and Storage answers (no details)."""
import azure.functions as func

from shared.deps import get_deps
from shared.errors import ConfigError, TwostepError

from .http import respond

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        get_deps().store.ping()
    except ConfigError:
        return respond(503, {"status": "unavailable", "config": "invalid", "storage": "unknown"})
    except TwostepError:
        return respond(503, {"status": "unavailable", "config": "ok", "storage": "unreachable"})
    return respond(200, {"status": "ok", "config": "ok", "storage": "ok"})
