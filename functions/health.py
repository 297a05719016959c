"""GET /api/health: anonymous; says whether settings are valid and Storage answers (no details).
A failing check is a problem+json 503 like every other error, with `config` and `storage` added."""
import azure.functions as func

from shared.kernel.errors import ConfigError, StorageUnavailable, TwostepError
from shared.wiring import get_deps

from .http import problem, reported, respond
from .tracing import invocation

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def health(req: func.HttpRequest) -> func.HttpResponse:
    return reported("health", _check())


def _check() -> func.HttpResponse:
    try:
        get_deps().store.ping()
    except ConfigError:
        return problem(StorageUnavailable(config="invalid", storage="unknown"))
    except TwostepError:
        return problem(StorageUnavailable(config="ok", storage="unreachable"))
    return respond(200, {"status": "ok", "config": "ok", "storage": "ok"})
