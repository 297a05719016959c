"""Route templates compiled as the Functions host matches them: {name}, {name?}, {name:constraint}, {*rest}."""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- routes

# Route constraints that narrow what a segment matches; anything else (min, length, regex...) is
# accepted as a plain segment: the dev host only has to route, not validate.
_CONSTRAINT_PATTERNS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "guid": r"\{?[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}\}?",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}
_SEGMENT_PARAM = r"[^/]+"


@dataclass(frozen=True)
class RouteParam:
    name: str
    pattern: str
    optional: bool
    default: str | None
    constrained: bool


def _split_braces(segment: str) -> list[str]:
    """Split a template segment into literal text and "{...}" tokens (braces may nest in constraints)."""
    tokens, depth, start = [], 0, 0
    for i, ch in enumerate(segment):
        if ch == "{":
            if depth == 0 and i > start:
                tokens.append(segment[start:i])
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                tokens.append(segment[start:i + 1])
                start = i + 1
    if start < len(segment):
        tokens.append(segment[start:])
    return tokens


def _parse_param(token: str) -> RouteParam:
    inner = token[1:-1].lstrip("*")
    optional = inner.endswith("?")
    inner = inner.rstrip("?")
    default = None
    if "=" in inner:
        inner, default = inner.split("=", 1)
    name, _, constraints = inner.partition(":")
    pattern = _SEGMENT_PARAM
    for constraint in filter(None, constraints.split(":")):
        known = _CONSTRAINT_PATTERNS.get(constraint.strip().lower())
        if known:
            pattern = known
            break
    return RouteParam(name.strip(), pattern, optional or default is not None, default, bool(constraints))


@dataclass(frozen=True)
class CompiledRoute:
    """A route template turned into an anchored regex (route params never match "/")."""

    template: str
    regex: re.Pattern[str]
    params: dict[str, RouteParam]  # regex group name -> parameter
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        values = {}
        for group, param in self.params.items():
            value = found.group(group)
            if value is None:
                value = param.default
            if value is not None:
                values[param.name] = value
        return values


def compile_route(prefix: str, template: str) -> CompiledRoute:
    """Compile `<prefix>/<template>` the way the host routes it: literals case-insensitive, one segment per
    parameter, `{name?}` optional, `{name=default}` defaulted, `{name:int}`-style constraints."""
    segments = [s for s in f"{prefix}/{template.strip('/')}".split("/") if s]
    regex, params, precedence = "", {}, []
    for segment in segments:
        tokens = _split_braces(segment)
        whole_param = len(tokens) == 1 and tokens[0].startswith("{") and tokens[0].endswith("}")
        part, rank = "", 0
        for token in tokens:
            if token.startswith("{") and token.endswith("}"):
                param = _parse_param(token)
                group = f"p{len(params)}"
                params[group] = param
                # Greedy: in "{name}.{ext}" the last "." splits, as ASP.NET's right-to-left matching does.
                part += f"(?P<{group}>{param.pattern})"
                rank = max(rank, 3 if param.optional else 1 if param.constrained else 2)
            else:
                part += re.escape(token)
        if whole_param and params[f"p{len(params) - 1}"].optional:
            regex += f"(?:/{part})?"
        else:
            regex += f"/{part}"
        precedence.append(rank)
    return CompiledRoute(template, re.compile(regex + "/?", re.IGNORECASE), params, tuple(precedence))
