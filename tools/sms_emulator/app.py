"""The WSGI application: the route table, the small handlers of the inbox, the fault switches, the
webhook receiver and health, and the turning of every error into ACS's JSON error body. The send call
itself lives in ``send_api``. The inbox alone answers CORS, and only to the one configured page origin."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .auth import DEFAULT_KEY
from .faults import Faults, parse_faults
from .http_json import ApiError, bad_request, error_response, iso_utc, json_response, utc_now
from .send_api import send as send_sms
from .store import EmulatorState

MAX_BODY_BYTES = 64 * 1024


class EmulatorRequest(Request):
    max_content_length = MAX_BODY_BYTES


class SmsEmulatorApp:
    """The WSGI application: routes requests to small handlers and turns errors into JSON."""

    def __init__(self, access_key: str = DEFAULT_KEY, allow_origin: str | None = None) -> None:
        self.allow_origin = allow_origin  # the one page origin that may read GET /messages (CORS)
        try:
            self._key = base64.b64decode(access_key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("The access key must be base64.") from None
        self.state = EmulatorState()
        self._routes = Map([
            Rule("/sms", methods=["POST"], endpoint=self.send),
            Rule("/messages", methods=["GET"], endpoint=self.list_messages),
            Rule("/messages", methods=["DELETE"], endpoint=self.clear_messages),
            Rule("/faults", methods=["GET"], endpoint=self.get_faults),
            Rule("/faults", methods=["PUT"], endpoint=self.put_faults),
            Rule("/faults", methods=["DELETE"], endpoint=self.clear_faults),
            Rule("/health", methods=["GET"], endpoint=self.health),
            Rule("/webhook", methods=["POST"], endpoint=self.receive_webhook),
            Rule("/webhook/events", methods=["GET"], endpoint=self.list_webhooks),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = EmulatorRequest(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            handler, _ = self._routes.bind_to_environ(request.environ).match()
            return handler(request)
        except ApiError as error:
            return error_response(error)
        except HTTPException as error:
            headers = dict(error.get_headers())
            headers.pop("Content-Type", None)
            return error_response(ApiError(error.code or 500, error.name.replace(" ", ""),
                                           error.description or error.name, headers))

    def send(self, request: Request) -> Response:
        return send_sms(self.state, self._key, request)

    def list_messages(self, request: Request) -> Response:
        return json_response(self.state.messages(request.args.get("to")), headers=self._cors(request))

    def _cors(self, request: Request) -> dict[str, str]:
        """CORS for the inbox alone: the configured origin, compared whole; anything else gets none."""
        origin = request.headers.get("Origin")
        if self.allow_origin and origin == self.allow_origin:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def clear_messages(self, request: Request) -> Response:
        self.state.clear_messages()
        return Response(status=204)

    def get_faults(self, request: Request) -> Response:
        return json_response(self.state.faults.to_json())

    def put_faults(self, request: Request) -> Response:
        self.state.set_faults(parse_faults(request.get_data(cache=True)))
        return json_response(self.state.faults.to_json())

    def clear_faults(self, request: Request) -> Response:
        self.state.set_faults(Faults())
        return Response(status=204)

    def receive_webhook(self, request: Request) -> Response:
        """The local webhook receiver: records what the app POSTed (headers and parsed JSON body), so a
        developer sees security events arrive and tests verify their signatures. It does not verify, and
        the SMS faults do not apply to it (a failing webhook is any other URL: they answer 404)."""
        body = request.get_data(cache=True)
        try:
            parsed: Any = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise bad_request("The webhook body must be JSON.") from None
        self.state.record_webhook({"receivedAt": iso_utc(utc_now()),
                                   "headers": {k.lower(): v for k, v in request.headers.items()},
                                   "body": parsed, "raw": body.decode("utf-8")})
        return Response(status=204)

    def list_webhooks(self, request: Request) -> Response:
        return json_response(self.state.webhooks(request.args.get("subject")))

    def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})
