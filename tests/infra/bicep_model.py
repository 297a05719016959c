"""Read infra/*.bicep the way checkov does (pycep-parser) and resolve expressions across modules.

pycep turns a template into JSON: parameters, variables, resources, modules, outputs. It keeps literals and
symbol references alike as plain strings ('twostep' and `tableName` both become "tableName"-like text), so
`Instance.resolve` decides: an identifier that names a parameter, variable, resource or module of the
template is a reference, anything else a literal. main.bicep is the root: its parameters resolve to `Param`
(name, decorators, default); a module is resolved with the values main passes it.

pycep comes from the main venv when requirements-dev.txt has it; otherwise from .venv-infra (created by
tools/check_infra.sh --venv-only), run in a subprocess.
"""
from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = "main.bicep"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")

_PARSE_SCRIPT = """
import json, sys
from pycep import BicepParser
parser = BicepParser()
texts = json.load(sys.stdin)
json.dump({name: parser.parse(text=text) for name, text in texts.items()}, sys.stdout)
"""


def parse_texts(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Parse Bicep sources with pycep-parser: in process if installed here, else through .venv-infra."""
    if not texts:
        return {}
    parser = _in_process_parser()
    if parser is None:
        return _parse_in_infra_venv(texts)
    return {name: parser.parse(text=text) for name, text in texts.items()}


@functools.cache
def _in_process_parser() -> Any:
    try:
        from pycep import BicepParser
    except ImportError:
        return None
    return BicepParser()


def _parse_in_infra_venv(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    python = ROOT / ".venv-infra" / "bin" / "python"
    if not python.exists():
        subprocess.run([str(ROOT / "tools" / "check_infra.sh"), "--venv-only"], check=True, timeout=600)
    done = subprocess.run([str(python), "-c", _PARSE_SCRIPT], input=json.dumps(texts), capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError("pycep-parser failed in .venv-infra (see stderr)")
    return json.loads(done.stdout)


def bicep_sources() -> dict[str, str]:
    return {p.relative_to(INFRA).as_posix(): p.read_text() for p in sorted(INFRA.rglob("*.bicep"))}


@functools.cache
def parsed_infra() -> dict[str, dict[str, Any]]:
    return parse_texts(bicep_sources())


# --------------------------------------------------------------------------------------------------------
# Resolved values that are not plain literals


@dataclass(frozen=True)
class Param:
    """A parameter of main.bicep: what the operator sets."""

    name: str
    spec: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def default(self) -> Any:
        return self.spec.get("default")

    @property
    def has_default(self) -> bool:
        return self.spec.get("default") is not None

    def decorator(self, kind: str) -> Any:
        for decorator in self.spec.get("decorators") or []:
            if decorator.get("type") == kind:
                return decorator.get("argument", True)
        return None


@dataclass(frozen=True)
class Symbol:
    """A resource or module declared in a template."""

    template: str
    kind: str  # "resource" | "module"
    name: str


@dataclass(frozen=True)
class Access:
    """head.path[0].path[1]...: a property of a resource, module output, or object."""

    head: Any
    path: tuple[str, ...]

    def text(self) -> str:
        head = self.head.name if isinstance(self.head, Symbol | Param) else str(self.head)
        return ".".join((head, *self.path))


@dataclass(frozen=True)
class Call:
    """A function or operator pycep kept (string(), empty(), !, ?:, guid(), ...), arguments resolved."""

    name: str
    args: tuple[tuple[str, Any], ...]

    def arg(self, key: str) -> Any:
        return dict(self.args).get(key)


@dataclass(frozen=True)
class Choice:
    """`condition ? when_true : when_false` whose condition depends on a parameter: both branches stay
    resolved (not frozen), so checks can look into each."""

    condition: Any
    when_true: Any
    when_false: Any


@dataclass(frozen=True)
class Text:
    """A string with interpolations that stayed unresolved, e.g. 'https://${site.properties.x}'."""

    raw: str
    parts: tuple[Any, ...]


def _unquote(key: str) -> str:
    """pycep keeps the quotes of quoted object keys ('azd-service-name')."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class Template:
    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.params: dict[str, Any] = data.get("parameters") or {}
        self.variables: dict[str, Any] = data.get("variables") or {}
        self.resources: dict[str, Any] = data.get("resources") or {}
        self.modules: dict[str, Any] = data.get("modules") or {}
        self.outputs: dict[str, Any] = data.get("outputs") or {}

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items()
                if res["type"].lower() == resource_type.lower()}

    @staticmethod
    def body(resource_or_module: dict[str, Any]) -> dict[str, Any]:
        """The object of a resource/module, looking through loops and `if` conditions."""
        config = resource_or_module["config"]
        while isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config):
            config = config["config"]
        return config

    @staticmethod
    def condition(resource_or_module: dict[str, Any]) -> Any:
        config = resource_or_module["config"]
        return config.get("condition") if isinstance(config, dict) else None


class Infra:
    """All templates under infra/, keyed by their path relative to infra/."""

    def __init__(self, parsed: dict[str, dict[str, Any]]) -> None:
        self.templates = {path: Template(path, data) for path, data in parsed.items()}
        self.main = Instance(self, self.templates[MAIN], None)

    def module_instances(self, module_path: str) -> list[Instance]:
        """Each use of a module by main.bicep, bound to the values main passes it."""
        found = []
        for name, module in self.main.template.modules.items():
            if module["detail"]["path"] == module_path:
                found.append(self.main.module_instance(name))
        return found

    def instance(self, module_path: str) -> Instance:
        instances = self.module_instances(module_path)
        assert len(instances) == 1, f"main.bicep should use {module_path} exactly once, uses it {len(instances)}x"
        return instances[0]


class Instance:
    """A template with its parameter bindings (None for main.bicep: its parameters are `Param`s)."""

    def __init__(self, infra: Infra, template: Template, bindings: dict[str, Any] | None,
                 via: str | None = None) -> None:
        self.infra = infra
        self.template = template
        self.bindings = bindings
        self.via = via  # the module symbol in main.bicep

    def module_instance(self, symbol: str) -> Instance:
        module = self.template.modules[symbol]
        path = (Path(self.template.path).parent / module["detail"]["path"]).as_posix()
        body = Template.body(module)
        bindings = {key: self.resolve(value) for key, value in (body.get("params") or {}).items()}
        return Instance(self.infra, self.infra.templates[path], bindings, via=symbol)

    # -- resolution ------------------------------------------------------------------------------------

    def resolve(self, expr: Any) -> Any:
        if isinstance(expr, bool | int | float) or expr is None:
            return expr
        if isinstance(expr, str):
            return self._resolve_string(expr)
        if isinstance(expr, list):
            return [self.resolve(item) for item in expr]
        if isinstance(expr, dict):
            if set(expr) == {"function"}:
                return self._function(expr["function"])
            if set(expr) == {"operator"}:
                return self._operator(expr["operator"])
            return {_unquote(key): self.resolve(value) for key, value in expr.items()}
        return expr

    def symbol(self, name: str) -> Any:
        t = self.template
        if name in t.params:
            if self.bindings is None:
                return Param(name, t.params[name])
            if name in self.bindings:
                return self.bindings[name]
            return self.resolve(t.params[name].get("default"))
        if name in t.variables:
            return self.resolve(t.variables[name]["value"])
        if name in t.resources:
            return Symbol(t.path, "resource", name)
        if name in t.modules:
            return Symbol(t.path, "module", name)
        raise KeyError(name)

    def _resolve_string(self, text: str) -> Any:
        if _IDENT.match(text):
            try:
                return self.symbol(text)
            except KeyError:
                return text
        if "${" not in text:
            return text
        parts: list[Any] = []
        position = 0
        for match in _INTERPOLATION.finditer(text):
            parts.append(text[position:match.start()])
            parts.append(self._dotted(match.group(1)))
            position = match.end()
        parts.append(text[position:])
        if all(isinstance(p, str | int) and not isinstance(p, bool) for p in parts):
            return "".join(str(p) for p in parts)
        return Text(text, tuple(p for p in parts if p != ""))

    def _dotted(self, dotted: str) -> Any:
        head, *path = dotted.split(".")
        try:
            value = self.symbol(head)
        except KeyError:
            return "${" + dotted + "}"
        return self.follow(value, tuple(path)) if path else value

    def follow(self, value: Any, path: tuple[str, ...]) -> Any:
        """value.path: into literal objects and module outputs; otherwise an `Access`."""
        while path:
            if isinstance(value, dict) and path[0] in value:
                value, path = value[path[0]], path[1:]
                continue
            if (isinstance(value, Symbol) and value.kind == "module" and value.template == self.template.path
                    and path[0] == "outputs" and len(path) >= 2):
                module = self.module_instance(value.name)
                output = module.template.outputs[path[1]]
                value, path = module.resolve(output["value"]), path[2:]
                continue
            return Access(value, path)
        return value

    def _function(self, fn: dict[str, Any]) -> Any:
        kind = fn.get("type")
        params = fn.get("parameters") or {}
        if kind == "string":
            value = self.resolve(params.get("value_to_convert"))
            if isinstance(value, bool):
                return str(value).lower()
            return str(value) if isinstance(value, str | int) else Call("string", (("value", value),))
        if kind == "empty":
            value = self.resolve(params.get("item_to_test"))
            if isinstance(value, str | list | dict):
                return len(value) == 0
            return Call("empty", (("value", value),))
        args = tuple((k, _freeze(self.resolve(v))) for k, v in params.items())
        extra = tuple((k, v) for k, v in fn.items() if k not in ("type", "parameters"))
        return Call(kind, args + extra)

    def _operator(self, op: dict[str, Any]) -> Any:
        kind = op.get("type")
        operands = op.get("operands") or {}
        if kind == "property_accessor":
            path = []
            node: Any = op
            while isinstance(node, dict) and node.get("type") == "property_accessor":
                left = node["operands"]["operand_1"]
                path.append(left)
                right = node["operands"]["operand_2"]
                node = right["operator"] if isinstance(right, dict) and "operator" in right else right
            path.append(node)
            head, *rest = path
            head_value = self.resolve(head) if isinstance(head, str) else self.resolve(head)
            return self.follow(head_value, tuple(str(p) for p in rest))
        if kind == "not":
            value = self.resolve(operands.get("bool_value"))
            return (not value) if isinstance(value, bool) else Call("not", (("value", value),))
        if kind == "conditional":
            condition = self.resolve(operands.get("condition"))
            if isinstance(condition, bool):
                return self.resolve(operands["true_value"] if condition else operands["false_value"])
            return Choice(condition, self.resolve(operands["true_value"]), self.resolve(operands["false_value"]))
        return Call(kind, tuple((k, _freeze(self.resolve(v))) for k, v in operands.items()))


@functools.cache
def infra() -> Infra:
    return Infra(parsed_infra())


def infra_from(texts: dict[str, str]) -> Infra:
    """An Infra from (possibly mutated) sources: the tests use it to prove their checks can fail. Only the
    files that differ from infra/ are parsed again."""
    original = bicep_sources()
    changed = {name: text for name, text in texts.items() if original.get(name) != text}
    parsed = {name: data for name, data in parsed_infra().items() if name in texts}
    parsed.update(parse_texts(changed))
    return Infra(parsed)


def mutated(path: str, old: str, new: str) -> Infra:
    """infra/ with `old` replaced by `new` in one file: the text must occur exactly once, so a mutation case
    can never silently stop applying."""
    sources = bicep_sources()
    assert sources[path].count(old) == 1, f"mutation anchor not found once in {path}: {old!r}"
    sources[path] = sources[path].replace(old, new)
    return infra_from(sources)


def param_of(value: Any) -> Param | None:
    """The main.bicep parameter behind a value: the value itself, or the argument of string(...)."""
    if isinstance(value, Param):
        return value
    if isinstance(value, Call) and value.name == "string":
        return param_of(value.arg("value"))
    return None


def accessor(expr: Any) -> tuple[str, str] | None:
    """(head, property) of a raw pycep `head.property` expression, else None."""
    if isinstance(expr, dict) and expr.get("operator", {}).get("type") == "property_accessor":
        operands = expr["operator"]["operands"]
        return operands["operand_1"], operands["operand_2"]
    return None


def object_value(instance: Instance, name: str) -> dict[str, Any]:
    """The value of an object variable or parameter; `union(a, b, ...)` of such objects is merged (later
    wins, as in ARM), and no key may appear in two of them (a parameter must not shadow a computed setting)."""
    variable = instance.template.variables.get(name)
    function = variable["value"].get("function") if variable and isinstance(variable["value"], dict) else None
    if function and function.get("type") == "union":
        merged: dict[str, Any] = {}
        for arg in function["parameters"].values():
            part = object_value(instance, arg)
            shared = set(part) & set(merged)
            assert not shared, f"{name}: {sorted(shared)} set twice"
            merged.update(part)
        return merged
    value = instance.symbol(name)
    assert isinstance(value, dict), f"{name} is not an object: {value!r}"
    return value


def app_settings_of(instance: Instance) -> dict[str, Any]:
    """name -> value of the Function App's settings: siteConfig.appSettings is `[for s in items(obj): {name:
    s.key, value: s.value}]`."""
    site = Template.body(instance.template.resources["site"])
    loop = site["properties"]["siteConfig"]["appSettings"]
    detail = loop["loop_type"]["detail"]
    assert loop["loop_type"]["type"] == "object", "appSettings is made from one object"
    item = detail["item_name"]
    assert (accessor(loop["config"]["name"]), accessor(loop["config"]["value"])) == ((item, "key"), (item, "value"))
    return object_value(instance, detail["object_name"])
