from shared import challenges, enrolment
from shared.otp import totp


def test_totp_enrol_and_signin(deps, clock):
    status, view, _ = enrolment.enrol_totp(deps, "alice@contoso.com", {})
    assert status == 201
    import base64
    secret = base64.b32decode(view["secret"] + "=" * (-len(view["secret"]) % 8))
    out = challenges.verify(deps, view["challengeId"], {"code": totp(secret, clock.now())})
    assert out["status"] == "approved"
    clock.advance(30)
    status, ch, _ = challenges.begin(deps, {"userId": "alice@contoso.com"})
    assert status == 201 and ch["method"] == "totp"
    out = challenges.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})
    assert out["status"] == "approved"
