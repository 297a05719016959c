"""The OData filter subset of Table Storage, parsed and evaluated over rows in wire form (memory.py).

Grammar (after the SDK substituted the @params): `or` of `and` of [`not`] (parenthesised filter or a
comparison `operand op operand`), with op one of eq ne lt le gt ge and an operand a property name or a
literal: 'string' ('' escapes a quote), datetime'...', guid'...', X'hex' / binary'hex', true, false,
numbers (Int32, Int64 with L, Double). As in the service, a comparison with an absent property or with a
value of another type is false. Anything else raises ValueError (the table answers 400).
"""
from __future__ import annotations

import base64
import operator
import re
from collections.abc import Callable
from typing import Any

from azure.data.tables._deserialize import _from_entity_datetime

Predicate = Callable[[dict[str, Any]], bool]
Typed = tuple[str, Any]  # (kind, value): kinds compare only with the same kind
OPS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
       "ge": operator.ge}
TOKEN = re.compile(r"""\s*(?:
    (?P<paren>[()])
  | (?P<typed>(?:datetime|guid|X|binary)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LdD]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text.rstrip()):
        match = TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ValueError(f"unexpected input at {at}: {text[at:at + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        at = match.end()
    return out


def _literal(kind: str, text: str) -> Typed:
    if kind == "string":
        return "str", text[1:-1].replace("''", "'")
    if kind == "number":
        if text[-1] in "dD" or "." in text or "e" in text.lower():
            return "num", float(text.rstrip("dD"))
        return "num", int(text.rstrip("L"))
    prefix, body = text.split("'", 1)
    body = body[:-1].replace("''", "'")
    if prefix == "datetime":
        return "datetime", _from_entity_datetime(body if body.endswith("Z") else body + "Z")
    if prefix == "guid":
        return "guid", body.lower()
    return "binary", bytes.fromhex(body)


def _property(row: dict[str, Any], name: str) -> Typed | None:
    """The typed value of a property of a row in wire form, None when the row has no such property."""
    if name not in row:
        return None
    value, edm = row[name], row.get(f"{name}@odata.type")
    if edm == "Edm.DateTime" or name == "Timestamp":
        return "datetime", _from_entity_datetime(value)
    if edm in ("Edm.Int64", "Edm.Double"):
        return "num", (int if edm == "Edm.Int64" else float)(value)
    if edm == "Edm.Guid":
        return "guid", value.lower()
    if edm == "Edm.Binary":
        return "binary", base64.b64decode(value)
    if isinstance(value, bool):
        return "bool", value
    return ("num", value) if isinstance(value, (int, float)) else ("str", value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.at = _tokens(text), 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ValueError("the filter ends too early")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "name" and token[1] == word:
            self.at += 1
            return True
        return False

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda row: not inner(row)
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise ValueError("a parenthesis is not closed")
            return inner
        return self.comparison()

    def operand(self) -> Callable[[dict[str, Any]], Typed | None]:
        kind, text = self.take()
        if kind == "name" and text in ("true", "false"):
            flag: Typed = ("bool", text == "true")
            return lambda row: flag
        if kind == "name" and text not in OPS and text not in ("and", "or", "not"):
            return lambda row: _property(row, text)
        if kind in ("string", "number", "typed"):
            value = _literal(kind, text)
            return lambda row: value
        raise ValueError(f"expected a property or a literal, got {text!r}")

    def comparison(self) -> Predicate:
        left = self.operand()
        kind, op = self.take()
        if kind != "name" or op not in OPS:
            raise ValueError(f"expected a comparison operator, got {op!r}")
        right, compare = self.operand(), OPS[op]

        def holds(row: dict[str, Any]) -> bool:
            a, b = left(row), right(row)
            return a is not None and b is not None and a[0] == b[0] and compare(a[1], b[1])
        return holds


def parse_filter(text: str) -> Predicate:
    """The predicate of an OData filter (its @params already substituted)."""
    parser = _Parser(text)
    predicate = parser.disjunction()
    rest = parser.peek()
    if rest is not None:
        raise ValueError(f"unexpected {rest[1]!r} after the filter")
    return predicate
