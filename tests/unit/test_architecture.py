"""The import direction of STYLE.md, checked on the source: a wrong-way import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "weixin_gateway"

_BELOW_STORE = (
    "weixin_gateway._ints",
    "weixin_gateway._lazy",
    "weixin_gateway._bodies",
    "weixin_gateway._resource",
    "weixin_gateway.ilink",
    "weixin_gateway.mp",
    "weixin_gateway.errors",
    "weixin_gateway._clock",
    "weixin_gateway._backoff",
)

# package -> modules of weixin_gateway it may import (prefix match)
ALLOWED: dict[str, tuple[str, ...]] = {
    # protocol types and crypto: nothing of ours but errors
    "ilink/wire.py": (),
    "ilink/protocol.py": (),
    "ilink/crypto.py": ("weixin_gateway.errors",),
    # the simulator sees only the protocol layer (iLink and Official Account)
    "simulator": (
        "weixin_gateway.ilink.wire",
        "weixin_gateway.ilink.crypto",
        "weixin_gateway.ilink.protocol",
        "weixin_gateway.mp.signature",
        "weixin_gateway.mp.crypto",
        "weixin_gateway.mp.xml",
        "weixin_gateway.mp.envelope",
        "weixin_gateway.mp.push",
        "weixin_gateway.mp.reply",
        "weixin_gateway.mp.errors",
        "weixin_gateway._clock",
        "weixin_gateway._resource",
        "weixin_gateway.errors",
        "weixin_gateway.simulator",
    ),
    # the SDK never reaches up into the simulator, the gateway or the interfaces
    "ilink": (
        "weixin_gateway._ints",
        "weixin_gateway._bodies",
        "weixin_gateway._resource",
        "weixin_gateway.ilink",
        "weixin_gateway.errors",
        "weixin_gateway._clock",
        "weixin_gateway._backoff",
    ),
    "mp": (
        "weixin_gateway._ints",
        "weixin_gateway._lazy",
        "weixin_gateway._bodies",
        "weixin_gateway._resource",
        "weixin_gateway.mp",
        "weixin_gateway.errors",
        "weixin_gateway._clock",
        "weixin_gateway._backoff",
    ),
    # storage and delivery build on the SDKs, never on the service above them
    "store": (*_BELOW_STORE, "weixin_gateway.store"),
    "delivery": (*_BELOW_STORE, "weixin_gateway.store", "weixin_gateway.delivery"),
    # the gateway wires everything below it together
    "gateway": (
        *_BELOW_STORE,
        "weixin_gateway.store",
        "weixin_gateway.delivery",
        "weixin_gateway.gateway",
    ),
    # the REST API sits on the gateway; only the CLI may reach everything (incl. the simulator)
    "api": (
        *_BELOW_STORE,
        "weixin_gateway.store",
        "weixin_gateway.delivery",
        "weixin_gateway.gateway",
        "weixin_gateway.api",
    ),
}


def _imports(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = "weixin_gateway." + ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rstrip(".").split(".")
                base = base[: len(base) - (node.level - 1)]
                found.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.append(node.module)
    return [name for name in found if name.startswith("weixin_gateway")]


def _allowed(name: str, allowed: tuple[str, ...]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def _rule_for(rel: str) -> tuple[str, ...] | None:
    if rel in ALLOWED:
        return ALLOWED[rel]
    return ALLOWED.get(rel.split("/", 1)[0])


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_one_way(path: Path) -> None:
    rel = str(path.relative_to(SRC))
    allowed = _rule_for(rel)
    if allowed is None:
        return
    for name in _imports(path):
        assert _allowed(name, allowed), f"{rel} imports {name}, which its layer must not use"


def test_checker_catches_a_relative_wrong_way_import(tmp_path: Path) -> None:
    """The checker itself must be able to fail: a simulator module importing the SDK client."""
    module = tmp_path / "simulator" / "bad.py"
    module.parent.mkdir()
    module.write_text("from ..ilink.client import WeixinClient\nfrom . import state\n")
    names = _imports(module, root=tmp_path)
    assert names == ["weixin_gateway.ilink.client", "weixin_gateway.simulator"]
    rule = _rule_for("simulator/bad.py")
    assert rule is not None
    assert not _allowed(names[0], rule)
    assert _allowed(names[1], rule)
