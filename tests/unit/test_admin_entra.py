"""B1 (Entra half, fail closed): MFA_ADMIN_ENTRA_REQUIRED makes "platform authentication is off" a refusal
of every admin call, and a client-sent X-MS-CLIENT-PRINCIPAL is never read unless the platform's
authentication is active (only then does the platform strip and re-inject it)."""
import base64
import json

import pytest

from functions.admin_auth import KEY_ACTOR, admin_actor
from shared.kernel.errors import ConfigError, Forbidden
from shared.settings import load_settings
from tests.unit.test_config import GOOD


def principal(*roles: str, auth_typ: str = "aad") -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"auth_typ": auth_typ, "claims": claims}).encode()).decode()


FORGED = {"x-ms-client-principal": principal("Twostep.Admin"), "x-ms-client-principal-name": "mallory@evil.test"}


def settings(**env: str):
    return load_settings({**GOOD, **env})


def test_the_setting_is_off_by_default_and_read_strictly():
    assert settings().admin_entra_required is False
    assert settings(MFA_ADMIN_ENTRA_REQUIRED="true").admin_entra_required is True
    assert settings(MFA_ADMIN_ENTRA_REQUIRED="False").admin_entra_required is False
    for bad in ("yes", "1", "true!", "on"):
        with pytest.raises(ConfigError, match="MFA_ADMIN_ENTRA_REQUIRED"):
            settings(MFA_ADMIN_ENTRA_REQUIRED=bad)


@pytest.mark.parametrize("website_auth", [None, "", "false", "False", "0"])
def test_required_without_active_platform_auth_refuses_even_a_well_formed_principal(website_auth):
    env = {"MFA_ADMIN_ENTRA_REQUIRED": "true"}
    if website_auth is not None:
        env["WEBSITE_AUTH_ENABLED"] = website_auth
    s = settings(**env)
    for headers in ({}, FORGED):
        with pytest.raises(Forbidden):
            admin_actor(headers, s)


def test_a_forged_principal_is_ignored_when_platform_auth_is_off_and_not_required():
    assert admin_actor(FORGED, settings()) == KEY_ACTOR


def test_required_with_platform_auth_active_accepts_the_injected_admin_principal():
    s = settings(MFA_ADMIN_ENTRA_REQUIRED="true", WEBSITE_AUTH_ENABLED="True")
    headers = {"x-ms-client-principal": principal("Twostep.Admin"), "x-ms-client-principal-name": "ops@contoso.com"}
    assert admin_actor(headers, s) == "ops@contoso.com"
    with pytest.raises(Forbidden):
        admin_actor({"x-ms-client-principal": principal("Reader")}, s)


@pytest.mark.parametrize("auth_typ", ["github", "", "AAD2"])
def test_only_an_entra_principal_counts(auth_typ):
    s = settings(WEBSITE_AUTH_ENABLED="true")
    with pytest.raises(Forbidden):
        admin_actor({"x-ms-client-principal": principal("Twostep.Admin", auth_typ=auth_typ)}, s)
