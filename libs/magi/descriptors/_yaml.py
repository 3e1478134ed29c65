"""Bounded YAML loading for untrusted descriptors.

`yaml.safe_load` refuses arbitrary objects but not "billion laughs": aliases share nodes, so
a few hundred bytes can stand for 10**9 nodes that blow up whoever walks the result. We
compose the node graph first, measure its size *with aliases expanded* (and refuse cyclic
aliases), and only then construct Python objects.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import Check, PackageError

MAX_YAML_BYTES = 8 * 2**20  # the largest ETSI type file is ~70 KB
MAX_YAML_NODES = 500_000  # expanded; a VNFD plus all ETSI types is ~20k

# libyaml is ~8x faster and caps nesting depth at 1000 itself
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: Node, limit: int, file: str) -> None:
    # iterative post-order walk; memo holds the expanded size of each distinct node
    memo: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            ancestors.discard(nid)
            size = 1 + sum(memo[id(c)] for c in _children(node))
            if size > limit:
                raise PackageError(Check.YAML_BOMB, f"YAML expands to more than {limit} nodes "
                                   "(alias expansion)", file=file)
            memo[nid] = size
            continue
        if nid in memo:
            continue
        if nid in ancestors:
            raise PackageError(Check.YAML_BOMB, "recursive YAML alias", file=file)
        ancestors.add(nid)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in ancestors:
                raise PackageError(Check.YAML_BOMB, "recursive YAML alias", file=file)
            if id(child) not in memo:
                stack.append((child, False))


def load_member(files: Mapping[str, bytes], path: str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """`load_yaml` of a package file, its size asked first: a huge member is refused unread."""
    size = files.size(path) if hasattr(files, "size") else len(files[path])
    _check_size(size, path, max_bytes)
    return load_yaml(files[path], path, max_bytes=max_bytes)


def _check_size(size: int, file: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise PackageError(Check.YAML_BOMB, f"YAML file of {size} bytes exceeds the "
                           f"{max_bytes}-byte limit", file=file)


def load_yaml(data: bytes, file: str, *, max_bytes: int = MAX_YAML_BYTES,
              max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse one YAML document from package file `file`; PackageError on anything unsafe."""
    _check_size(len(data), file, max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PackageError(Check.YAML, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                           file=file) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, max_nodes, file)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split())
        raise PackageError(Check.YAML, f"invalid YAML: {msg}", file=file) from None
    except RecursionError:
        raise PackageError(Check.YAML_BOMB, "YAML nested too deeply", file=file) from None
    finally:
        loader.dispose()
