"""Generate the CRD field reference (docs/crd-reference.md) from the CRD YAML in crds/, the single source.

    python -m perpdex_dev.crd_docs > docs/crd-reference.md     # regenerate
    python -m perpdex_dev.crd_docs --check docs/crd-reference.md  # exit 1 when the committed file is stale

Every field of every served version: its path, type, whether it is required, its default, its constraints (enum,
pattern, bounds) and its description; the cross-field (CEL) rules with their messages; the printer columns.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = REPO_ROOT / "crds"
# the order the reference presents them in
CRD_FILES = ("tradingbots.yaml", "fundingcollectors.yaml")

Schema = dict[str, Any]


@dataclass(frozen=True)
class Field:
    path: str
    schema: Schema
    required: bool


@dataclass(frozen=True)
class Rule:
    path: str
    rule: str
    message: str
    field_path: str | None


def load_crd(path: Path) -> Schema:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{path}: not a CustomResourceDefinition")
    return doc


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    """Markdown table cell: one line, pipes escaped."""
    return _one_line(text).replace("|", "\\|")


def _code(text: str) -> str:
    # a backtick span that may itself contain backticks is not needed here; patterns hold none
    return f"`{text}`"


def type_name(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"[]{type_name(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map[string]{type_name(schema['additionalProperties'])}"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def constraints(schema: Schema) -> list[str]:
    out: list[str] = []
    if "enum" in schema:
        out.append("one of " + ", ".join(_code(str(v)) for v in schema["enum"]))
    if "pattern" in schema:
        out.append("pattern " + _code(schema["pattern"]))
    bounds = (
        ("minimum", ">= {}"),
        ("maximum", "<= {}"),
        ("minLength", "length >= {}"),
        ("maxLength", "length <= {}"),
        ("minItems", "items >= {}"),
        ("maxItems", "items <= {}"),
        ("maxProperties", "entries <= {}"),
    )
    out += [template.format(schema[key]) for key, template in bounds if key in schema]
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        out.append("unique items")
    elif list_type == "map":
        keys = ", ".join(schema.get("x-kubernetes-list-map-keys", []))
        out.append(f"unique by {keys}")
    return out


def walk(schema: Schema, path: str, required: bool = False) -> Iterator[Field]:
    """Every field below ``schema`` (depth first, properties in schema order)."""
    yield Field(path, schema, required)
    kind = schema.get("type")
    if kind == "object":
        needed = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            yield from walk(sub, f"{path}.{name}", name in needed)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from walk(extra, f"{path}.<key>", False)
    elif kind == "array" and isinstance(schema.get("items"), dict):
        items = schema["items"]
        if items.get("type") == "object":
            # the item itself is described by the array's row; walk its fields
            needed = set(items.get("required", []))
            for name, sub in items.get("properties", {}).items():
                yield from walk(sub, f"{path}[].{name}", name in needed)


def rules(schema: Schema, path: str) -> Iterator[Rule]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield Rule(path, _one_line(rule["rule"]), _one_line(rule.get("message", "")), rule.get("fieldPath"))
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from rules(sub, f"{path}.{name}" if path else name)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from rules(extra, f"{path}.<key>")
    elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        yield from rules(schema["items"], f"{path}[]")


def _keyed_name(crd: Schema, field: str) -> str:
    """``spec.credentials.<key>`` reads better with what the key is."""
    if crd["spec"]["names"]["kind"] == "TradingBot":
        return (
            field.replace("credentials.<key>", "credentials.<exchange>")
            .replace("limits.<key>", "limits.<resource>")
            .replace("requests.<key>", "requests.<resource>")
        )
    return field


def render_crd(crd: Schema, source: str) -> list[str]:
    names = crd["spec"]["names"]
    group = crd["spec"]["group"]
    out: list[str] = []
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        root: Schema = version["schema"]["openAPIV3Schema"]
        out += [f"## {names['kind']} ({group}/{version['name']})", ""]
        out += [_one_line(root.get("description", "")), ""]
        subresources = ", ".join(sorted(version.get("subresources", {}))) or "none"
        out += [
            f"- Source: `{source}`",
            f"- Scope: {crd['spec']['scope']}; plural `{names['plural']}`, short names "
            + ", ".join(_code(s) for s in names.get("shortNames", []))
            + "; categories "
            + ", ".join(_code(c) for c in names.get("categories", [])),
            f"- Subresources: {subresources}",
            "",
            "### Printer columns (`kubectl get`)",
            "",
            "| Column | JSONPath | Type | Shown | Description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for col in version.get("additionalPrinterColumns", []):
            shown = "always" if col.get("priority", 0) == 0 else "`-o wide`"
            out.append(
                f"| {_cell(col['name'])} | `{col['jsonPath']}` | {col['type']} | {shown} | "
                f"{_cell(col.get('description', ''))} |"
            )
        out.append("")
        for top in ("spec", "status"):
            if top not in root.get("properties", {}):
                continue
            out += [
                f"### {top}",
                "",
                "| Field | Type | Required | Default | Constraints | Description |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for field in walk(root["properties"][top], top, top in root.get("required", [])):
                schema = field.schema
                default = _code(json.dumps(schema["default"])) if "default" in schema else ""
                out.append(
                    f"| `{_keyed_name(crd, field.path)}` | {_cell(type_name(schema))} | "
                    f"{'yes' if field.required else ''} | {_cell(default)} | "
                    f"{_cell('; '.join(constraints(schema)))} | {_cell(schema.get('description', ''))} |"
                )
            out.append("")
        found = list(rules(root, ""))
        if found:
            out += [
                "### Cross-field rules (CEL, enforced by the API server)",
                "",
                "| On | Reported at | Rule | Message |",
                "| --- | --- | --- | --- |",
            ]
            for rule in found:
                where = rule.path or "(object)"
                reported = f"{rule.path}{rule.field_path}" if rule.field_path else where
                out.append(f"| `{where}` | `{reported}` | `{_cell(rule.rule)}` | {_cell(rule.message)} |")
            out.append("")
    return out


def render(crd_dir: Path = CRD_DIR) -> str:
    lines = [
        "# CRD reference",
        "",
        "<!-- GENERATED by `python -m perpdex_dev.crd_docs > docs/crd-reference.md` from crds/*.yaml: do not edit. -->",
        "",
        "Every field of the perpdex custom resources with its type, default and description, generated from the CRD",
        "schemas (the API server enforces exactly these). Decimals (money, prices, rates, percentages) are strings such",
        'as `"0.01"`; durations are strings such as `"450s"` or `"1m30s"`. `kubectl explain tradingbot.spec.grid`',
        "prints the same descriptions.",
        "",
    ]
    for name in CRD_FILES:
        path = crd_dir / name
        lines += render_crd(load_crd(path), f"crds/{name}")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perpdex_dev.crd_docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--crd-dir", type=Path, default=CRD_DIR, help="folder holding the CRD YAML (default: crds/)")
    parser.add_argument(
        "--check", type=Path, metavar="FILE", help="compare with FILE instead of printing; exit 1 if stale"
    )
    args = parser.parse_args(argv)
    text = render(args.crd_dir)
    if args.check is not None:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(
                f"{args.check} is stale: regenerate with `python -m perpdex_dev.crd_docs > {args.check}`",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
