"""Check resource bodies against the Bicep compiler's own type definitions, with no network.

The definitions are the `types.json` files of Azure/bicep-types-az, vendored in tests/infra/bicep-types/ (its
README gives the source commit and license; only the API versions infra/ uses): one per provider namespace and API version, each an array of type nodes that refer to each
other by index. `problems(infra)` walks every resource of every template instance (after bicep_model's
parameter resolution) and reports, as text, each property the type does not know, each read-only property
that is set, each required property that is missing, each literal of the wrong kind or outside its enum or
bounds (for an enum that also admits any string, a literal must still be one of the listed values: stricter
than the compiler, so that a typo is caught), and each `type@apiVersion` the definitions do not hold. Values the model cannot compute (resource
properties, function calls) are accepted as they are; a parameter is checked through its declared type and
its @allowed list; both branches of a `cond ? a : b` are checked.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from tests.infra.bicep_model import Access, Call, Choice, Infra, Instance, Param, Symbol, Template, Text

REQUIRED, READ_ONLY = 1, 2
# Keys of a resource declaration that are Bicep's, not the resource body's.
BICEP_KEYS = {"parent", "scope", "dependsOn"}
UNKNOWN_VALUE = (Access, Call, Symbol)


VENDORED = Path(__file__).resolve().parent / "bicep-types"
OWN = Path(__file__).resolve().parent / "bicep-types-own"  # written by this project where the vendored data has none


def types_root() -> Path:
    """The vendored definitions in the repository, or $BICEP_TYPES_DIR (e.g. a full checkout of
    bicep-types-az's generated/ folder). Missing data is an error, never a reason to skip."""
    candidate = Path(os.environ.get("BICEP_TYPES_DIR") or VENDORED)
    if not (candidate / "README.md").exists():
        raise FileNotFoundError(f"no Bicep type definitions at {candidate}")
    return candidate


class TypeFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodes: list[dict[str, Any]] = json.loads(path.read_text())
        self.resources = {node["name"].lower(): node for node in self.nodes if node["$type"] == "ResourceType"}

    def node(self, ref: dict[str, str]) -> dict[str, Any]:
        return self.nodes[int(ref["$ref"].rsplit("/", 1)[1])]


@functools.cache
def type_file(path: Path) -> TypeFile:
    return TypeFile(path)


@functools.cache
def resource_type(name: str) -> tuple[TypeFile, dict[str, Any]] | None:
    """The file and ResourceType node for 'Namespace/type@apiVersion'; only that version's files are read."""
    full_type, _, version = name.partition("@")
    namespace = full_type.split("/", 1)[0].lower()
    paths = [*types_root().glob(f"*/{namespace}/{version}/types.json"), *OWN.glob(f"*/{namespace}/{version}/types.json")]
    for path in sorted(paths):
        found = type_file(path).resources.get(name.lower())
        if found is not None:
            return type_file(path), found
    return None


def _describe(node: dict[str, Any], types: TypeFile) -> str:
    kind = node["$type"]
    if kind == "StringLiteralType":
        return repr(node["value"])
    if kind == "UnionType":
        return " | ".join(_describe(types.node(e), types) for e in node["elements"])
    return kind.removesuffix("Type").lower()


class Checker:
    def __init__(self, types: TypeFile, where: str) -> None:
        self.types = types
        self.where = where
        self.found: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.found.append(f"{self.where}{path}: {text}")

    # -- values ------------------------------------------------------------------------------------------

    def value(self, value: Any, ref: dict[str, str], path: str) -> None:
        node = self.types.node(ref)
        if isinstance(value, Choice):
            self.value(value.when_true, ref, path)
            self.value(value.when_false, ref, path)
            return
        if isinstance(value, Param):
            self.param(value, node, path)
            return
        kind = node["$type"]
        if kind == "AnyType" or isinstance(value, UNKNOWN_VALUE) and not self._string_call(value):
            return
        handler = getattr(self, "_" + kind, None)
        if handler is None:
            self.problem(path, f"type {kind} is not understood by this check")
            return
        handler(value, node, path)

    @staticmethod
    def _string_call(value: Any) -> bool:
        return isinstance(value, Call) and value.name == "string"

    def _enum(self, node: dict[str, Any]) -> tuple[list[str], bool]:
        """The listed strings of an enum, and whether any other string is admitted too."""
        kind = node["$type"]
        if kind == "StringLiteralType":
            return [node["value"]], False
        if kind == "UnionType":
            listed: list[str] = []
            admits_any = False
            for element in node["elements"]:
                inner, any_string = self._enum(self.types.node(element))
                listed += inner
                admits_any = admits_any or any_string
            return listed, admits_any
        return [], kind == "StringType"

    def param(self, param: Param, node: dict[str, Any], path: str) -> None:
        """A main.bicep parameter: its declared type must fit, and its @allowed values must be listed values
        of an enum (a free string parameter only where the enum admits any string)."""
        declared = param.spec.get("type")
        kind = node["$type"]
        expects = {"StringType": "string", "StringLiteralType": "string", "IntegerType": "int",
                   "BooleanType": "bool", "ArrayType": "array", "ObjectType": "object",
                   "DiscriminatedObjectType": "object"}.get(kind)
        if kind == "UnionType":
            kinds = {self.types.node(e)["$type"] for e in node["elements"]}
            expects = "string" if kinds <= {"StringType", "StringLiteralType"} else None
        if expects and declared != expects:
            self.problem(path, f"parameter {param.name} is {declared}, the property wants {expects}")
            return
        if expects != "string":
            return
        listed, admits_any = self._enum(node)
        choices = param.decorator("allowed")
        if listed and choices and set(choices) - set(listed):
            self.problem(path, f"parameter {param.name} allows {sorted(set(choices) - set(listed))}, outside {listed}")
        elif listed and not choices and not admits_any:
            self.problem(path, f"parameter {param.name} may be any string; allowed: {listed}")

    def _StringType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, Text) or self._string_call(value):
            return
        if not isinstance(value, str):
            self.problem(path, f"{value!r} is not a string")
            return
        if "minLength" in node and len(value) < node["minLength"]:
            self.problem(path, f"{value!r} is shorter than {node['minLength']}")
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.problem(path, f"{value!r} is longer than {node['maxLength']}")

    def _StringLiteralType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, Text) or self._string_call(value):
            return
        if value != node["value"]:
            self.problem(path, f"{value!r} is not {node['value']!r}")

    def _UnionType(self, value: Any, node: dict[str, Any], path: str) -> None:
        literals = [self.types.node(e)["value"] for e in node["elements"]
                    if self.types.node(e)["$type"] == "StringLiteralType"]
        if isinstance(value, str) and literals:
            # Many Azure enums also admit "any string" (the API may add values); a literal here must still be
            # one of the values the API version lists: a typo would otherwise pass and fail at deployment.
            if value not in literals:
                self.problem(path, f"{value!r} is none of: {_describe(node, self.types)}")
            return
        for element in node["elements"]:
            trial = Checker(self.types, self.where)
            trial.value(value, element, path)
            if not trial.found:
                return
        self.problem(path, f"{value!r} is none of: {_describe(node, self.types)}")

    def _IntegerType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(path, f"{value!r} is not an integer")
            return
        if "minValue" in node and value < node["minValue"]:
            self.problem(path, f"{value} is below {node['minValue']}")
        if "maxValue" in node and value > node["maxValue"]:
            self.problem(path, f"{value} is above {node['maxValue']}")

    def _BooleanType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, bool):
            self.problem(path, f"{value!r} is not a boolean")

    def _ArrayType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, dict) and "loop_type" in value:  # [for x in ...: {...}]: check the item it makes
            self.value(value["config"], node["itemType"], f"{path}[*]")
            return
        if isinstance(value, Text) or not isinstance(value, list):
            self.problem(path, f"{value!r} is not an array")
            return
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.problem(path, f"more than {node['maxLength']} items")
        for index, item in enumerate(value):
            self.value(item, node["itemType"], f"{path}[{index}]")

    def _ObjectType(self, value: Any, node: dict[str, Any], path: str) -> None:
        self.object(value, node.get("properties") or {}, node.get("additionalProperties"), path)

    def _DiscriminatedObjectType(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict):
            self.problem(path, f"{value!r} is not an object")
            return
        key = node["discriminator"]
        choice = value.get(key)
        elements = node["elements"]
        if not isinstance(choice, str) or choice not in elements:
            self.problem(path, f"{key} {choice!r} is none of {sorted(elements)}")
            return
        element = self.types.node(elements[choice])
        properties = {**node.get("baseProperties", {}), **element.get("properties", {})}
        self.object(value, properties, element.get("additionalProperties"), path)

    def object(self, value: Any, properties: dict[str, Any], additional: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.problem(path, f"{value!r} is not an object")
            return
        lower = {name.lower(): name for name in properties}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            spec = properties.get(key)
            if spec is None:
                if key.lower() in lower:
                    self.problem(where, f"wrong case: the property is {lower[key.lower()]!r}")
                elif additional is not None:
                    self.value(item, additional, where)
                else:
                    self.problem(where, f"unknown property (known: {', '.join(sorted(properties))})")
                continue
            if spec.get("flags", 0) & READ_ONLY:
                self.problem(where, "read-only property set")
                continue
            self.value(item, spec["type"], where)
        for name, spec in properties.items():
            flags = spec.get("flags", 0)
            if flags & REQUIRED and not flags & READ_ONLY and name not in value:
                self.problem(f"{path}.{name}" if path else name, "required property missing")


def check_resource(instance: Instance, symbol: str) -> list[str]:
    resource = instance.template.resources[symbol]
    name = resource["type"] + "@" + resource["api_version"] if "api_version" in resource else resource["type"]
    where = f"{instance.template.path}:{symbol} ({name}) "
    found = resource_type(name)
    if found is None:
        return [f"{where}: {name} is not in {types_root()} (extend the type data; never skip the check)"]
    types, node = found
    if resource.get("existing"):
        return []
    body = {k: v for k, v in instance.resolve(Template.body(resource)).items() if k not in BICEP_KEYS}
    checker = Checker(types, where)
    checker.value(body, node["body"], "")
    return checker.found


def all_instances(infra: Infra) -> list[Instance]:
    return [infra.main, *(infra.main.module_instance(symbol) for symbol in infra.main.template.modules)]


def problems(infra: Infra) -> list[str]:
    found: list[str] = []
    checked = 0
    for instance in all_instances(infra):
        for symbol in instance.template.resources:
            found += check_resource(instance, symbol)
            checked += 1
    if not checked:
        found.append("no resources to check")
    return found
