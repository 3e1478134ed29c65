"""TOSCA service-template set: the entry file, its imports, and one type registry.

Only what SOL001 descriptors need: imports resolved inside the package (relative to the
importing file), ETSI SOL001 type files treated as known when imported by URL or absent,
`derived_from` chains, and property values with `get_input` / type defaults / single
`valid_values` (how VNF-specific node types pin descriptor_id, provider, ...).
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from ._archive import is_url
from ._yaml import load_member
from .errors import Check, DescriptorError, PackageError

# ETSI's SOL001 type files: known by name, never fetched
ETSI_TYPES = re.compile(r"(^|/)etsi_nfv_sol001_[a-z]+_types\.ya?ml$")
MAX_TEMPLATES = 256
_TYPE_SECTIONS = ("node_types", "policy_types", "group_types", "artifact_types",
                  "data_types", "capability_types", "relationship_types", "interface_types")


@contextmanager
def shape_errors(check: Check, file: str) -> Iterator[SimpleNamespace]:
    """Turn a descriptor of the wrong *shape* (a list where a map belongs, a string where
    a number does) into a DescriptorError instead of an AttributeError deep in a parser.
    The yielded context's `file` can be moved along as parsing goes from file to file."""
    ctx = SimpleNamespace(file=file)
    try:
        yield ctx
    except PackageError:
        raise
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DescriptorError(check, f"malformed {exc.title} ({loc}: {err['msg']})",
                              file=ctx.file) from None
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise DescriptorError(check, f"malformed descriptor ({type(exc).__name__}: {exc})",
                              file=ctx.file) from None


def import_paths(doc: Mapping[str, Any], file: str) -> list[str]:
    """The `imports` list in its TOSCA 1.0-1.3 spellings, as strings."""
    raw = doc.get("imports") or []
    if not isinstance(raw, list):
        raise PackageError(Check.IMPORT, "'imports' is not a list", file=file)
    out: list[str] = []
    for item in raw:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and "file" in item:
            # a repository-relative import is as unreachable as a URL
            out.append(f"repository://{item['file']}" if item.get("repository") else
                       str(item["file"]))
        elif isinstance(item, dict) and len(item) == 1:
            (value,) = item.values()
            out.append(str(value["file"]) if isinstance(value, dict) else str(value))
        else:
            raise PackageError(Check.IMPORT, f"unreadable import {item!r}", file=file)
    return out


class ToscaSet:
    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self.templates: dict[str, dict[str, Any]] = {}  # path -> doc, in load order
        self.types: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in _TYPE_SECTIONS}

    # ------------------------------------------------------------------ loading

    def load(self, entry: str) -> None:
        self._load(entry, [])

    def _load(self, path: str, stack: list[str]) -> None:
        if path in stack:
            chain = " -> ".join([*stack[stack.index(path):], path])
            raise PackageError(Check.IMPORT_CYCLE, f"recursive import: {chain}", file=path)
        if path in self.templates:
            return
        if len(self.templates) >= MAX_TEMPLATES:
            raise PackageError(Check.IMPORT, f"more than {MAX_TEMPLATES} imported files",
                               file=path)
        doc = self.read_template(path)
        stack.append(path)
        with shape_errors(Check.IMPORT, path):
            imports = import_paths(doc, path)
        for imp in imports:
            target = self.resolve_import(path, imp)
            if target is not None:
                self._load(target, stack)
        stack.pop()
        self.templates[path] = doc
        for section in _TYPE_SECTIONS:
            defs = doc.get(section) or {}
            if isinstance(defs, dict):
                for name, definition in defs.items():
                    if isinstance(definition, dict):
                        self.types[section].setdefault(str(name), definition)

    def read_template(self, path: str) -> dict[str, Any]:
        doc = load_member(self.files, path)
        if not isinstance(doc, dict) or "tosca_definitions_version" not in doc:
            raise PackageError(Check.TOSCA, "not a TOSCA service template (no "
                               "tosca_definitions_version)", file=path)
        return doc

    def resolve_import(self, importer: str, imp: str) -> str | None:
        """Package path of an import, or None for a known ETSI type file."""
        if is_url(imp):
            if ETSI_TYPES.search(imp):
                return None
            raise PackageError(Check.IMPORT, f"external import {imp!r} is not supported "
                               "(only ETSI SOL001 type files may be imported by URL)",
                               file=importer)
        path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), imp))
        if imp.startswith("/") or "\\" in imp or path == ".." or path.startswith("../"):
            raise PackageError(Check.IMPORT, f"import {imp!r} leaves the package",
                               file=importer)
        if path not in self.files:
            if ETSI_TYPES.search(path):
                return None
            raise PackageError(Check.IMPORT, f"imported file {imp!r} ({path}) is not in the "
                               "package", file=importer)
        return path

    # ------------------------------------------------------------------ types

    def type_chain(self, name: str, section: str = "node_types") -> Iterator[tuple[str, dict]]:
        seen: set[str] = set()
        while name and name not in seen:
            seen.add(name)
            definition = self.types[section].get(name)
            if definition is None:
                return
            yield name, definition
            name = definition.get("derived_from")

    def is_a(self, name: Any, base: str, section: str = "node_types") -> bool:
        if not isinstance(name, str):
            return False
        if name == base:
            return True
        return any(d.get("derived_from") == base for _, d in self.type_chain(name, section))

    def known_type(self, name: str) -> bool:
        return name in self.types["node_types"] or name.startswith("tosca.")

    # ------------------------------------------------------------------ values

    def prop(self, node: Mapping[str, Any], name: str, inputs: Mapping[str, Any] | None,
             file: str, node_name: str) -> Any:
        """Property value: literal, else get_input default, else type default / pin."""
        props = node.get("properties") or {}
        value = resolve_input(props.get(name), inputs)
        pinned: list[Any] | None = None
        for _, tdef in self.type_chain(node.get("type", "")):
            pdef = (tdef.get("properties") or {}).get(name)
            if not isinstance(pdef, dict):
                continue
            if pinned is None:
                pinned = allowed_values(pdef)
            if value is None and "default" in pdef:
                value = pdef["default"]
            if value is None and pinned is not None and len(pinned) == 1:
                value = pinned[0]
            if value is not None:
                break
        if value is not None and pinned is not None and not isinstance(value, (list, dict)) \
                and str(value) not in {str(p) for p in pinned}:
            raise DescriptorError(Check.TOSCA, f"node {node_name!r}: property {name} = "
                                  f"{value!r} is not one of its valid values {pinned}", file=file)
        return value


def resolve_input(value: Any, inputs: Mapping[str, Any] | None) -> Any:
    """`{get_input: x}` -> the input's default (None when it has none)."""
    if isinstance(value, dict) and set(value) == {"get_input"}:
        ref = value["get_input"]
        name = ref[0] if isinstance(ref, list) and ref else ref
        spec = (inputs or {}).get(name)
        return spec.get("default") if isinstance(spec, dict) else None
    return value


def allowed_values(pdef: Mapping[str, Any]) -> list[Any] | None:
    for c in pdef.get("constraints") or []:
        if isinstance(c, dict):
            if isinstance(c.get("valid_values"), list):
                return list(c["valid_values"])
            if "equal" in c:
                return [c["equal"]]
    return None


def named_items(raw: Any) -> list[tuple[str, Any]]:
    """Requirements/policies come as a list of one-key maps or as a map."""
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    out: list[tuple[str, Any]] = []
    for item in raw or []:
        if isinstance(item, dict):
            out.extend((str(k), v) for k, v in item.items())
    return out


def requirement_target(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("node"), str):
        return value["node"]
    return None


def requirements(node: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    return [(name, requirement_target(v)) for name, v in named_items(node.get("requirements"))]


def check_references(ts: ToscaSet, tt: Mapping[str, Any], file: str,
                     error: type[PackageError] = DescriptorError) -> None:
    """Every requirement, group member, policy target and substitution mapping must name
    a node template of this topology (or, for requirements, a node type)."""
    nodes = tt.get("node_templates") or {}
    groups = tt.get("groups") or {}

    def missing(where: str, target: str) -> PackageError:
        return error(Check.NODE_REFERENCE, f"{where} refers to {target!r}, which is not a node "
                     "template of this topology", file=file)

    for name, node in nodes.items():
        for req, target in requirements(node or {}):
            if target and target not in nodes and not ts.known_type(target):
                raise missing(f"node {name!r} requirement {req!r}", target)
    for gname, group in groups.items():
        for member in (group or {}).get("members") or []:
            if member not in nodes:
                raise missing(f"group {gname!r}", member)
    for pname, policy in named_items(tt.get("policies")):
        for target in (policy or {}).get("targets") or []:
            if target not in nodes and target not in groups:
                raise missing(f"policy {pname!r}", target)
    for req, mapping in substitution_requirements(tt):
        if mapping and mapping[0] not in nodes:
            raise missing(f"substitution_mappings requirement {req!r}", mapping[0])


def substitution_requirements(tt: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    sm = tt.get("substitution_mappings") or {}
    return [(k, [str(x) for x in v] if isinstance(v, list) else [])
            for k, v in named_items(sm.get("requirements"))]


def substitution_property(tt: Mapping[str, Any], name: str) -> Any:
    """A property fixed by `substitution_mappings.properties` or (TOSCA 1.3)
    `substitution_filter: {properties: [{name: {equal: x}}]}`."""
    sm = tt.get("substitution_mappings") or {}
    value = (sm.get("properties") or {}).get(name)
    if value is not None:
        return value[0] if isinstance(value, list) and len(value) == 1 else value
    for pname, cond in named_items((sm.get("substitution_filter") or {}).get("properties")):
        if pname == name:
            conds = cond if isinstance(cond, list) else [cond]
            for c in conds:
                if isinstance(c, dict) and "equal" in c:
                    return c["equal"]
                if isinstance(c, dict) and len(c.get("valid_values") or []) == 1:
                    return c["valid_values"][0]
    return None


# ------------------------------------------------------------------ typed values


def scalar(value: Any, conv: Any, file: str, where: str) -> float | None:
    if value is None:
        return None
    try:
        return conv(value)
    except ValueError as exc:
        raise DescriptorError(Check.VNFD, f"{where}: {exc}", file=file) from None


def integer(value: Any, file: str, where: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise DescriptorError(Check.VNFD, f"{where}: {value!r} is not an integer", file=file)
    return value


def package_path(importer: str, ref: str, where: str) -> str:
    """Artifact `file:` values are relative to the template that declares them."""
    if is_url(ref):
        return ref
    path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), ref))
    if ref.startswith("/") or path == ".." or path.startswith("../"):
        raise DescriptorError(Check.VNFD, f"{where}: artifact {ref!r} leaves the package",
                              file=importer)
    return path


def node_artifacts(node: Mapping[str, Any], file: str, name: str) -> dict[str, tuple[str | None, str]]:
    out: dict[str, tuple[str | None, str]] = {}
    for aname, adef in (node.get("artifacts") or {}).items():
        ref = adef.get("file") if isinstance(adef, dict) else adef
        if isinstance(ref, str):
            atype = adef.get("type") if isinstance(adef, dict) else None
            out[aname] = (atype, package_path(file, ref, f"node {name!r}"))
    return out
