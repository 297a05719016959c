"""The WebAuthn ceremony core (W1, W2, W4, W5) against the software authenticator in tests/webauthn_soft.py:
each test gets one thing wrong on purpose and expects the typed failure the method module maps."""
from __future__ import annotations

import copy
import random
import secrets

import pytest

from shared.crypto.webauthn import (
    CeremonyFailed,
    CloneSuspected,
    RelyingParty,
    StoredCredential,
    creation_options,
    new_user_handle,
    request_options,
    verify_assertion,
    verify_registration,
)
from shared.crypto.webauthn_json import MalformedCredential, PasskeyError, parse_assertion, parse_registration, unb64url
from tests.webauthn_soft import CHROMIUM_AAGUID, SoftCredential, authenticate, b64url, register

RP = RelyingParty("localhost", "twostep", ("http://localhost:7071",))
PROD = RelyingParty("example.com", "Example", ("https://login.example.com",))


def _register(cred: SoftCredential, rp: RelyingParty = RP, **kwargs):
    options = creation_options(rp, user_handle=cred.user_handle, user_name="alice", display_name="Alice",
                               existing_ids=[], timeout_seconds=300)
    body = register(cred, options.challenge, **kwargs)
    return verify_registration(parse_registration(body), challenge=options.challenge, rp=rp)


def _enrolled(rp: RelyingParty = RP, origin: str = "http://localhost:7071") -> tuple[SoftCredential, StoredCredential]:
    cred = SoftCredential(new_user_handle(), rp_id=rp.rp_id)
    done = _register(cred, rp, origin=origin)
    return cred, StoredCredential(done.credential_id, done.public_key, done.sign_count, cred.user_handle)


def _assert(cred: SoftCredential, stored: StoredCredential, rp: RelyingParty = RP, challenge: bytes | None = None,
            **kwargs):
    expected = request_options(rp, credential_ids=[stored.credential_id], timeout_seconds=300).challenge
    body = authenticate(cred, expected if challenge is None else challenge, **kwargs)
    return verify_assertion(parse_assertion(body), stored=stored, challenge=expected, rp=rp)


# --- options (W1) -------------------------------------------------------------------------------------

def test_creation_options_require_uv_use_the_random_handle_and_exclude_existing_credentials():
    handle = new_user_handle()
    options = creation_options(RP, user_handle=handle, user_name="alice", display_name="Alice",
                               existing_ids=[b"\x01\x02"], timeout_seconds=300)
    pk = options.public_key
    assert pk["authenticatorSelection"]["userVerification"] == "required"
    assert pk["authenticatorSelection"]["residentKey"] == "preferred"
    assert pk["attestation"] == "none"
    assert pk["user"] == {"id": b64url(handle), "name": "alice", "displayName": "Alice"}
    assert pk["rp"] == {"id": "localhost", "name": "twostep"}
    assert pk["excludeCredentials"] == [{"id": "AQI", "type": "public-key"}]
    assert [p["alg"] for p in pk["pubKeyCredParams"]] == [-7, -8, -257]
    assert pk["timeout"] == 300_000
    assert pk["challenge"] == b64url(options.challenge) and len(options.challenge) == 32


def test_user_handles_are_random_32_bytes():
    handles = {new_user_handle() for _ in range(50)}
    assert len(handles) == 50 and all(len(h) == 32 for h in handles)


def test_request_options_name_only_the_users_credentials_and_require_uv():
    options = request_options(RP, credential_ids=[b"\x01", b"\x02"], timeout_seconds=120)
    assert options.public_key["allowCredentials"] == [{"id": "AQ", "type": "public-key"},
                                                      {"id": "Ag", "type": "public-key"}]
    assert options.public_key["userVerification"] == "required"
    assert options.public_key["rpId"] == "localhost" and options.public_key["timeout"] == 120_000
    assert options.challenge != request_options(RP, credential_ids=[], timeout_seconds=120).challenge


# --- registration (W1, W5, W7's inputs) ---------------------------------------------------------------

def test_a_good_registration_yields_what_the_method_must_store():
    cred = SoftCredential(new_user_handle())
    done = _register(cred, sign_count=1)
    assert done.credential_id == cred.credential_id
    assert done.public_key == cred.cose_public_key()
    assert (done.sign_count, done.aaguid, done.device_type, done.backed_up) == (1, CHROMIUM_AAGUID, "deviceBound", False)
    assert done.transports == ("internal", "hybrid")


def test_a_backup_eligible_credential_is_synced():
    done = _register(SoftCredential(new_user_handle()), be=True, bs=True)
    assert (done.device_type, done.backup_eligible, done.backed_up) == ("synced", True, True)


@pytest.mark.parametrize("change", [
    {"uv": False}, {"up": False}, {"origin": "http://localhost:7072"}, {"rp_id": "evil.test"},
    {"kind": "webauthn.get"}, {"cross_origin": True},
], ids=["uv-missing", "up-missing", "wrong-origin", "wrong-rp-id", "wrong-type", "cross-origin"])
def test_a_registration_that_proves_too_little_fails(change):
    with pytest.raises(CeremonyFailed):
        _register(SoftCredential(new_user_handle()), **change)


def test_a_registration_for_another_challenge_fails():
    cred = SoftCredential(new_user_handle())
    options = creation_options(RP, user_handle=cred.user_handle, user_name="a", display_name="a",
                               existing_ids=[], timeout_seconds=60)
    body = register(cred, secrets.token_bytes(32))
    with pytest.raises(CeremonyFailed):
        verify_registration(parse_registration(body), challenge=options.challenge, rp=RP)


def test_a_registration_whose_id_is_not_the_attested_one_fails():
    cred = SoftCredential(new_user_handle())
    options = creation_options(RP, user_handle=cred.user_handle, user_name="a", display_name="a",
                               existing_ids=[], timeout_seconds=60)
    body = register(cred, options.challenge)
    body["id"] = body["rawId"] = b64url(b"another-credential")
    with pytest.raises(CeremonyFailed):
        verify_registration(parse_registration(body), challenge=options.challenge, rp=RP)


def test_an_undecodable_attestation_object_is_a_failed_ceremony_not_a_crash():
    """Well-formed JSON whose CBOR the library cannot decode: a typed failure, never a library exception."""
    cred = SoftCredential(new_user_handle())
    body = register(cred, b"c" * 32)
    body["response"]["attestationObject"] = b64url(b"\xa1\x63fmt")  # truncated CBOR
    with pytest.raises(CeremonyFailed):
        verify_registration(parse_registration(body), challenge=b"c" * 32, rp=RP)


# --- assertions (W2, W4, W5) --------------------------------------------------------------------------

def test_a_good_assertion_returns_the_new_counter():
    cred, stored = _enrolled()
    assert _assert(cred, stored).new_sign_count == 1


@pytest.mark.parametrize("origin", [
    "http://localhost:7072", "http://sub.localhost:7071", "http://localhost:7071/", "https://localhost:7071",
    "http://localhost", "HTTP://localhost:7071",
], ids=["other-port", "subdomain", "trailing-slash", "https-for-http", "no-port", "case"])
def test_an_origin_not_listed_exactly_is_refused(origin):
    cred, stored = _enrolled()
    with pytest.raises(CeremonyFailed):
        _assert(cred, stored, origin=origin)


@pytest.mark.parametrize("origin", ["https://example.com", "http://login.example.com", "https://login.example.com/",
                                    "https://evil.login.example.com", "https://login.example.com:443"])
def test_production_origins_match_exactly_too(origin):
    cred, stored = _enrolled(PROD, origin="https://login.example.com")
    _assert(cred, stored, PROD, origin="https://login.example.com")
    with pytest.raises(CeremonyFailed):
        _assert(cred, stored, PROD, origin=origin)


@pytest.mark.parametrize("change", [
    {"rp_id": "evil.test"}, {"uv": False}, {"up": False}, {"bad_signature": True}, {"kind": "webauthn.create"},
    {"cross_origin": True}, {"challenge": b"\x00" * 32},
], ids=["rp-id-hash", "uv-missing", "up-missing", "bad-signature", "wrong-type", "cross-origin", "other-challenge"])
def test_an_assertion_that_proves_too_little_fails_without_a_clone_alarm(change):
    cred, stored = _enrolled()
    with pytest.raises(CeremonyFailed) as failure:
        _assert(cred, stored, **change)
    assert not isinstance(failure.value, CloneSuspected)


def test_a_replayed_assertion_fails_on_a_new_challenge():
    cred, stored = _enrolled()
    first = request_options(RP, credential_ids=[stored.credential_id], timeout_seconds=60).challenge
    body = authenticate(cred, first)
    verify_assertion(parse_assertion(body), stored=stored, challenge=first, rp=RP)
    second = request_options(RP, credential_ids=[stored.credential_id], timeout_seconds=60).challenge
    with pytest.raises(CeremonyFailed):
        verify_assertion(parse_assertion(body), stored=stored, challenge=second, rp=RP)


@pytest.mark.parametrize("presented", [5, 3, 0])
def test_a_counter_that_did_not_grow_is_a_suspected_clone(presented):
    cred, stored = _enrolled()
    stored = StoredCredential(stored.credential_id, stored.public_key, 5, stored.user_handle)
    with pytest.raises(CloneSuspected):
        _assert(cred, stored, sign_count=presented)
    assert _assert(cred, stored, sign_count=6).new_sign_count == 6


def test_zero_after_zero_is_allowed_as_synced_passkeys_send():
    cred, stored = _enrolled()
    assert stored.sign_count == 0
    result = _assert(cred, stored, sign_count=0, be=True, bs=True)
    assert (result.new_sign_count, result.backed_up) == (0, True)


def test_a_forged_response_with_a_low_counter_is_not_reported_as_a_clone():
    cred, stored = _enrolled()
    stored = StoredCredential(stored.credential_id, stored.public_key, 5, stored.user_handle)
    with pytest.raises(CeremonyFailed) as failure:
        _assert(cred, stored, sign_count=1, bad_signature=True)
    assert not isinstance(failure.value, CloneSuspected)


def test_another_users_handle_is_refused():
    cred, stored = _enrolled()
    with pytest.raises(CeremonyFailed):
        _assert(cred, stored, user_handle=new_user_handle())


def test_a_credential_of_another_user_is_refused():
    """Mallory's valid credential presented for Alice's stored credential: refused before any signature."""
    _, alice = _enrolled()
    mallory, _ = _enrolled()
    with pytest.raises(CeremonyFailed):
        _assert(mallory, alice)
    with pytest.raises(CeremonyFailed):
        _assert(mallory, StoredCredential(mallory.credential_id, alice.public_key, 0, alice.user_handle),
                user_handle=None)


def test_no_user_handle_is_allowed_for_a_non_discoverable_credential():
    cred, stored = _enrolled()
    assert _assert(cred, stored, user_handle=None).new_sign_count == 1


# --- malformed shapes: a 400 before anything is read --------------------------------------------------

def _good_assertion() -> dict:
    cred = SoftCredential(new_user_handle())
    return authenticate(cred, b"c" * 32)


def _mutations():
    long_id = b64url(b"\x01" * 1024)
    return [
        ("not-object", lambda b: ["x"]), ("no-id", lambda b: b.pop("id")), ("id-int", lambda b: b.update(id=5)),
        ("raw-id-differs", lambda b: b.update(rawId="AAAA")), ("type", lambda b: b.update(type="password")),
        ("no-response", lambda b: b.pop("response")), ("response-list", lambda b: b.update(response=[])),
        ("id-padded", lambda b: b.update(id=b["id"] + "=", rawId=b["id"] + "=")),
        ("id-newline", lambda b: b.update(id=b["id"] + "\n", rawId=b["id"] + "\n")),
        ("id-standard-b64", lambda b: b.update(id="ab+/", rawId="ab+/")),
        ("id-oversized", lambda b: b.update(id=long_id, rawId=long_id)),
        ("id-empty", lambda b: b.update(id="", rawId="")),
        ("id-non-canonical", lambda b: b.update(id="AB", rawId="AB")),
        ("attachment", lambda b: b.update(authenticatorAttachment="usb")),
        ("extensions", lambda b: b.update(clientExtensionResults=[])),
        ("client-data-missing", lambda b: b["response"].pop("clientDataJSON")),
        ("client-data-not-json", lambda b: b["response"].update(clientDataJSON=b64url(b"{nope"))),
        ("client-data-array", lambda b: b["response"].update(clientDataJSON=b64url(b"[]"))),
        ("client-data-origin-int", lambda b: b["response"].update(
            clientDataJSON=b64url(b'{"type":"webauthn.get","challenge":"AA","origin":1}'))),
        ("client-data-cross-origin-str", lambda b: b["response"].update(
            clientDataJSON=b64url(b'{"type":"webauthn.get","challenge":"AA","origin":"x","crossOrigin":"no"}'))),
        ("client-data-oversized", lambda b: b["response"].update(clientDataJSON=b64url(b" " * 4096))),
        ("auth-data-short", lambda b: b["response"].update(authenticatorData=b64url(b"\x00" * 36))),
        ("signature-missing", lambda b: b["response"].pop("signature")),
        ("signature-oversized", lambda b: b["response"].update(signature=b64url(b"\x00" * 1025))),
        ("user-handle-int", lambda b: b["response"].update(userHandle=7)),
        ("user-handle-oversized", lambda b: b["response"].update(userHandle=b64url(b"\x00" * 65))),
    ]


@pytest.mark.parametrize("mutate", [m for _, m in _mutations()], ids=[n for n, _ in _mutations()])
def test_a_malformed_assertion_is_refused_before_verification(mutate):
    body = _good_assertion()
    changed = mutate(body)
    with pytest.raises(MalformedCredential):
        parse_assertion(changed if isinstance(changed, list) else body)


@pytest.mark.parametrize("mutate", [
    lambda r: r.pop("attestationObject"), lambda r: r.update(attestationObject=b64url(b"\x00" * 8193)),
    lambda r: r.update(transports="usb"), lambda r: r.update(transports=["USB"]),
    lambda r: r.update(transports=["usb"] * 9), lambda r: r.update(clientDataJSON=None),
], ids=["no-attestation", "attestation-oversized", "transports-str", "transport-case", "transports-many",
        "client-data-null"])
def test_a_malformed_registration_is_refused_before_verification(mutate):
    body = register(SoftCredential(new_user_handle()), b"c" * 32)
    mutate(body["response"])
    with pytest.raises(MalformedCredential):
        parse_registration(body)


def test_unknown_members_are_ignored_and_the_library_sees_only_checked_values():
    cred, stored = _enrolled()
    challenge = request_options(RP, credential_ids=[], timeout_seconds=60).challenge
    body = copy.deepcopy(authenticate(cred, challenge))
    body["future"] = {"anything": 1}
    parsed = parse_assertion(body)
    assert "future" not in parsed.library_form()
    assert verify_assertion(parsed, stored=stored, challenge=challenge, rp=RP).new_sign_count == 1


def test_an_assertion_for_another_credential_id_than_the_stored_one_fails():
    """Even with the right key and handle: the caller's lookup and the response must name one credential."""
    cred, stored = _enrolled()
    other = StoredCredential(b"another-credential", stored.public_key, 0, stored.user_handle)
    with pytest.raises(CeremonyFailed):
        _assert(cred, other)


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_bytes_end_in_a_typed_failure_never_a_library_exception(seed):
    """Flip random bytes inside each binary member of good responses (the shapes stay valid): every
    outcome is success or a PasskeyError, so no input reaches the client as a 500."""
    rng = random.Random(seed)
    cred, stored = _enrolled()
    reg_challenge = b"r" * 32
    outcomes = set()
    for _ in range(150):
        which = rng.choice(["clientDataJSON", "attestationObject", "authenticatorData", "signature"])
        body = register(cred, reg_challenge) if which == "attestationObject" else authenticate(cred, b"c" * 32,
                                                                                             sign_count=9)
        data = bytearray(unb64url(body["response"][which], which, max_bytes=8192))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        body["response"][which] = b64url(bytes(data))
        try:
            if which == "attestationObject":
                verify_registration(parse_registration(body), challenge=reg_challenge, rp=RP)
            else:
                verify_assertion(parse_assertion(body), stored=stored, challenge=b"c" * 32, rp=RP)
            outcomes.add("ok")
        except PasskeyError as error:
            outcomes.add(type(error).__name__)
    assert "CeremonyFailed" in outcomes
