"""Request-body validation: each check's edges and the fixed detail each refusal carries (the detail is
the client-facing problem text)."""
import json

import pytest

from shared.kernel import validation as v
from shared.kernel.errors import InvalidRequest, PayloadTooLarge


def refused(fn, *args, **kwargs) -> str:
    with pytest.raises(InvalidRequest) as err:
        fn(*args, **kwargs)
    return str(err.value)


class TestJsonBody:
    def test_size_limit_is_inclusive(self):
        body = json.dumps({"k": "x" * (v.MAX_BODY_BYTES - 9)}).encode()
        assert len(body) == v.MAX_BODY_BYTES
        assert v.parse_json_body(body)["k"]
        with pytest.raises(PayloadTooLarge):
            v.parse_json_body(body + b" ")
        assert v.parse_json_body(body + b" ", limit=v.MAX_BODY_BYTES + 1)["k"]
        assert (v.MAX_BODY_BYTES, v.MAX_POLICY_DOCUMENT_BYTES) == (16 * 1024, 24 * 1024 * 1024)  # README's limits

    @pytest.mark.parametrize("raw", [None, b"", b"  \n\t "])
    def test_empty_bodies(self, raw):
        assert refused(v.parse_json_body, raw) == "A JSON object body is required."
        assert v.parse_json_body(raw, required=False) == {}

    @pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"nul", b"[" * 5000 + b"]" * 5000, b"{'a': 1}"])
    def test_not_json(self, raw):
        assert refused(v.parse_json_body, raw) == "The body is not valid JSON."

    @pytest.mark.parametrize("raw", [b"[]", b"1", b'"x"', b"null", b"true"])
    def test_not_an_object(self, raw):
        assert refused(v.parse_json_body, raw) == "The body must be a JSON object."

    def test_an_object(self):
        assert v.parse_json_body(b' {"a": [1, "\xc3\xa9"]} ') == {"a": [1, "é"]}


class TestText:
    def test_absent(self):
        assert v.text({}, "name", max_len=5) is None
        assert v.text({"name": None}, "name", max_len=5) is None
        assert refused(v.text, {}, "name", max_len=5, required=True) == "name is required."

    @pytest.mark.parametrize("value", [5, True, ["a"], {"a": 1}, b"abc"])
    def test_not_a_string(self, value):
        assert refused(v.text, {"name": value}, "name", max_len=5) == "name must be a string."

    def test_length_edges(self):
        assert v.text({"n": "a"}, "n", max_len=5) == "a"
        assert v.text({"n": "abcde"}, "n", max_len=5) == "abcde"
        assert refused(v.text, {"n": "abcdef"}, "n", max_len=5) == "n must be 1-5 characters."
        assert refused(v.text, {"n": ""}, "n", max_len=5) == "n must be 1-5 characters."
        assert v.text({"n": "ab"}, "n", max_len=5, min_len=2) == "ab"
        assert refused(v.text, {"n": "a"}, "n", max_len=5, min_len=2) == "n must be 2-5 characters."
        assert v.text({"n": ""}, "n", max_len=5, min_len=0) == ""

    @pytest.mark.parametrize("ch", ["\x00", "\x1f", "\n", "\x7f", "\x80", "\x9f"])
    def test_control_characters_anywhere(self, ch):
        for value in (ch + "ab", "a" + ch + "b", "ab" + ch):
            assert refused(v.text, {"n": value}, "n", max_len=5) == "n must not contain control characters."

    @pytest.mark.parametrize("value", [" a b ", "\xa0é", "日本", "~!@#"])
    def test_printable_text_passes(self, value):
        assert v.text({"n": value}, "n", max_len=5) == value


class TestScalars:
    def test_boolean(self):
        assert v.boolean({}, "b") is False and v.boolean({}, "b", default=True) is True
        assert v.boolean({"b": True}, "b") is True and v.boolean({"b": False}, "b", default=True) is False
        for bad in (1, 0, "true", None):
            assert refused(v.boolean, {"b": bad}, "b") == "b must be true or false."

    def test_integer(self):
        assert v.integer({"i": 1}, "i", low=1, high=3) == 1 and v.integer({"i": 3}, "i", low=1, high=3) == 3
        assert v.integer({}, "i", low=1, high=3, default=2) == 2
        assert refused(v.integer, {}, "i", low=1, high=3) == "i is required."
        for bad in (True, False, 1.0, "2", [2]):
            assert refused(v.integer, {"i": bad}, "i", low=1, high=3) == "i must be a whole number."
        for out in (0, 4, -1):
            assert refused(v.integer, {"i": out}, "i", low=1, high=3) == "i must be between 1 and 3."

    def test_choice(self):
        assert v.choice({}, "c", ("a", "b")) is None
        assert v.choice({"c": "b"}, "c", ("a", "b")) == "b"
        assert refused(v.choice, {}, "c", ("a", "b"), required=True) == "c must be one of: a, b."
        for bad in ("A", "", "ab", 1, ["a"]):
            assert refused(v.choice, {"c": bad}, "c", ("a", "b")) == "c must be one of: a, b."


class TestCode:
    @pytest.mark.parametrize("code", ["000000", "123456", "1234567", "12345678"])
    def test_six_to_eight_digits(self, code):
        assert v.otp_code({"code": code}) == code

    @pytest.mark.parametrize("code", [None, 123456, "12345", "123456789", "12345a", " 123456", "１２３４５６",
                                      "", "12 3456", "+123456"])
    def test_anything_else(self, code):
        assert refused(v.otp_code, {"code": code}) == "code must be a string of 6 to 8 digits."


class TestFields:
    RULES = v.Fields(allowed=frozenset({"userId", "method", "context"}), required=("userId",),
                     nested={"context": v.Fields(allowed=frozenset({"ip", "riskLevel"}))})

    def refusal(self, body: dict) -> tuple[str, str]:
        with pytest.raises(InvalidRequest) as err:
            v.check_fields(body, self.RULES)
        return err.value.detail, err.value.extra["field"]

    def test_a_body_within_the_rules(self):
        v.check_fields({"userId": "u", "method": "sms", "context": {"ip": "203.0.113.7"}}, self.RULES)
        v.check_fields({"userId": "u", "context": None}, self.RULES)  # a wrong type is the reader's to say
        v.check_fields({"anything": 1}, v.Fields())  # an open object: any member

    def test_an_unknown_member_is_named_first(self):
        assert self.refusal({"userId": "u", "metod": "sms"}) == (
            "Unknown field metod: This route's body takes context, method, userId.", "metod")
        assert self.refusal({"usrId": "u"})[1] == "usrId"  # the misspelt one, not "userId is required"
        assert self.refusal({"userId": "u", "context": {"riskLevl": "high"}}) == (
            "Unknown field context.riskLevl: context takes ip, riskLevel.", "context.riskLevl")
        with pytest.raises(InvalidRequest) as err:
            v.check_fields({"x": 1}, v.Fields(allowed=frozenset()))
        assert err.value.detail == "Unknown field x: This route's body takes no members."

    @pytest.mark.parametrize("body", [{}, {"userId": None}, {"method": "sms"}])
    def test_a_missing_member_is_named(self, body):
        assert self.refusal(body) == ("userId is required.", "userId")

    def test_the_readers_name_a_missing_member_too(self):
        for read in (lambda: v.text({}, "reason", max_len=5, required=True),
                     lambda: v.integer({}, "reason", low=1, high=2)):
            with pytest.raises(InvalidRequest) as err:
                read()
            assert (err.value.detail, err.value.extra["field"]) == ("reason is required.", "reason")
