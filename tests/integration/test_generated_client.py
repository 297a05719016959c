"""A client built from /api/openapi.json by a standard tool (aiopenapi3, which builds request and response
models from an OpenAPI 3.1 document at run time) enrols an authenticator app, begins a sign-in and verifies
it against the dev host, so the document is complete enough for a caller who has nothing else."""
from __future__ import annotations

import itertools
import json

import pytest
from aiopenapi3 import OpenAPI
from aiopenapi3.errors import HTTPClientError

from tests.conftest import FUNCTION_KEY
from tests.helpers import secret_bytes
from tests.integration.api_client import pinned_api

_users = itertools.count()


@pytest.fixture
def client(devhost):
    api = OpenAPI.load_sync(f"{devhost.url}/api/openapi.json")
    api.authenticate(functionKey=FUNCTION_KEY)
    return api


def test_generated_client_enrols_begins_and_verifies(client, devhost, emulator):
    user = f"Generated.Client{next(_users)}@Contoso.com"
    with pinned_api(devhost, emulator.url) as host:
        enrolment = client._.enrolTotp(parameters={"userId": user}, data={})
        assert enrolment.method == "totp" and enrolment.otpauthUri.startswith("otpauth://totp/")
        secret = secret_bytes(enrolment.secret)
        approved = client._.verifyChallenge(parameters={"challengeId": enrolment.challengeId},
                                            data={"code": host.totp(secret, steps=-1)})
        assert (approved.status, approved.userId, approved.method) == ("approved", user.lower(), "totp")

        user_view = client._.getUser(parameters={"userId": user})
        assert [m.root.type for m in user_view.methods] == ["totp"]

        begun = client._.beginChallenge(data={"userId": user, "method": "totp"})
        assert begun.status == "pending" and begun.method == "totp"
        with pytest.raises(HTTPClientError) as refused:  # only an approval is a 2xx: the client raises
            client._.verifyChallenge(parameters={"challengeId": begun.challengeId}, data={"code": "000000"})
        assert refused.value.status_code == 403
        assert json.loads(refused.value.data) | {"detail": ""} == {
            "type": "urn:twostep:problem:incorrect_code", "title": "Incorrect code", "status": 403, "detail": "",
            "code": "incorrect_code", "attemptsRemaining": 4}
        signed_in = client._.verifyChallenge(parameters={"challengeId": begun.challengeId},
                                             data={"code": host.totp(secret)})
        assert signed_in.status == "approved"
        assert client._.getChallenge(parameters={"challengeId": begun.challengeId}).status == "approved"
