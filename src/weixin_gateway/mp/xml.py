"""Safe XML for Official Account pushes and replies (official-account.md §2.4 steps 2 and 9, §4.1).

Parsing goes through :mod:`defusedxml` with DOCTYPE, entity declarations and external references
all forbidden, under a size cap and a depth cap, and requires the root to be ``<xml>`` (a
different root crashed go-wx-gateway, defect D8). The result is a plain dict keyed by the XML's
own tag names:

* a leaf element becomes its text (``""`` when empty; CDATA and plain text read the same);
* an element with children becomes a nested dict;
* a tag that repeats becomes a list, and ``item`` and ``List`` are *always* lists, even with one
  child, so that ``SendPicsInfo/PicList/item`` or ``SubscribeMsgPopupEvent/List`` keep one shape.

The builder is the inverse. Strings go into CDATA with ``]]>`` split across two sections (defect
D3), ints are written as plain text (``CreateTime``, ``ArticleCount``), dicts nest and lists
repeat their key. Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates,
U+FFFE/U+FFFF) are dropped, so *any* text gives well-formed XML. As everywhere in XML, a parser
reads ``\\r\\n`` and a lone ``\\r`` back as ``\\n``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # types and ParseError only; parsing goes through defusedxml
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as SafeET

from weixin_gateway.mp.errors import PayloadTooLargeError, XmlError

__all__ = [
    "ALWAYS_LIST",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "Plain",
    "XmlDict",
    "XmlInput",
    "XmlValue",
    "build_xml",
    "cdata",
    "parse_xml",
    "xml_safe_text",
]

XmlValue: TypeAlias = "str | dict[str, XmlValue] | list[XmlValue]"
XmlDict: TypeAlias = dict[str, XmlValue]

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_MAX_DEPTH = 16
ALWAYS_LIST: frozenset[str] = frozenset({"item", "List"})

_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True, slots=True)
class Plain:
    """Text written XML-escaped instead of in CDATA (e.g. an echoed ``TimeStamp``)."""

    text: str


XmlInput: TypeAlias = "str | int | Plain | Mapping[str, XmlInput] | Sequence[XmlInput] | None"


class _DefusedParser(SafeET.DefusedXMLParser):
    """defusedxml's parser (DOCTYPE, entity declarations and external references refused),
    with the element events wired straight to the C tree builder.

    defusedxml builds on the pure-Python ``XMLParser``, whose per-element wrappers (names
    memoised and namespace-expanded, attributes re-packed) cost more than the rest of a push's
    parse; here expat hands tags and attribute dicts to the builder directly. The only
    difference: a namespaced tag keeps expat's ``uri}name`` form instead of ``{uri}name``
    (WeChat's XML has no namespaces; such a tag simply matches no field).
    """

    def __init__(self) -> None:
        builder = ET.TreeBuilder()
        super().__init__(
            target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        expat = self.parser
        expat.ordered_attributes = False
        expat.StartElementHandler = builder.start
        expat.EndElementHandler = builder.end


def parse_xml(
    data: bytes | str,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    root: str = "xml",
    always_list: frozenset[str] = ALWAYS_LIST,
) -> XmlDict:
    """Parse ``data`` safely into a dict of the root's children (see the module docstring).

    Raises :class:`PayloadTooLargeError` over ``max_size`` bytes and :class:`XmlError` for
    anything that is not well-formed, declares a DOCTYPE or entity, nests deeper than
    ``max_depth`` or has a root other than ``root``.
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_size:
        raise PayloadTooLargeError(size, max_size)
    try:
        parser = _DefusedParser()
        parser.feed(data)
        element = parser.close()
    except defusedxml.DefusedXmlException as exc:
        raise XmlError(f"forbidden XML construct: {type(exc).__name__}") from exc
    except ET.ParseError as exc:
        raise XmlError("body is not well-formed XML") from exc
    except (ValueError, UnicodeError) as exc:
        raise XmlError("body is not well-formed XML") from exc
    if element.tag != root:
        raise XmlError(f"root element must be <{root}>")
    value = _convert(element, always_list, max_depth, 1)
    return value if isinstance(value, dict) else {}


def _convert(
    element: ET.Element, always_list: frozenset[str], max_depth: int, depth: int
) -> XmlValue:
    children = list(element)
    if not children:
        return element.text or ""
    if depth >= max_depth:
        raise XmlError(f"XML nests deeper than {max_depth} levels")
    out: dict[str, XmlValue] = {}
    listed: set[str] = set()
    for child in children:
        tag = child.tag
        value = _convert(child, always_list, max_depth, depth + 1)
        if tag in listed:
            existing = out[tag]
            assert isinstance(existing, list)
            existing.append(value)
        elif tag in out:
            out[tag] = [out[tag], value]
            listed.add(tag)
        elif tag in always_list:
            out[tag] = [value]
            listed.add(tag)
        else:
            out[tag] = value
    return out


def xml_safe_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _ILLEGAL.sub("", text)


def cdata(text: str) -> str:
    """``text`` as CDATA that stays well-formed whatever it holds (``]]>`` is split)."""
    safe = xml_safe_text(text).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{safe}]]>"


def build_xml(fields: Mapping[str, XmlInput], *, root: str = "xml", separator: str = "") -> str:
    """Write ``fields`` as ``<root>…</root>`` (see the module docstring); ``None`` is skipped."""
    _check_name(root)
    return f"<{root}>{separator}{_children(fields, separator)}{separator}</{root}>"


def _children(fields: Mapping[str, XmlInput], separator: str) -> str:
    parts: list[str] = []
    for key, value in fields.items():
        _check_name(key)
        if isinstance(value, str):  # the common cases first, without the ABC checks below
            parts.append(f"<{key}>{cdata(value)}</{key}>")
        elif type(value) is int:
            parts.append(f"<{key}>{value}</{key}>")
        elif isinstance(value, Sequence) and not isinstance(value, str):
            for item in value:
                if isinstance(item, Sequence) and not isinstance(item, str):
                    raise TypeError(f"{key}: a list cannot directly hold a list")
                if item is not None:
                    parts.append(_element(key, item, separator))
        elif value is not None:
            parts.append(_element(key, value, separator))
    return separator.join(parts)


def _element(key: str, value: XmlInput, separator: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{key}: booleans have no XML form here; pass an int or a str")
    if isinstance(value, str):
        body = cdata(value)
    elif isinstance(value, int):
        body = str(value)
    elif isinstance(value, Plain):
        body = escape(xml_safe_text(value.text))
    elif isinstance(value, Mapping):
        inner = _children(value, separator)
        body = f"{separator}{inner}{separator}" if inner else ""
    else:
        raise TypeError(f"{key}: cannot write {type(value).__name__} as XML")
    return f"<{key}>{body}</{key}>"


_CHECKED_NAMES: set[str] = set()
_CHECKED_NAMES_MAX = 1024


def _check_name(name: str) -> None:
    if name in _CHECKED_NAMES:
        return
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a usable XML element name")
    if len(_CHECKED_NAMES) < _CHECKED_NAMES_MAX:  # the names a process writes are few
        _CHECKED_NAMES.add(name)
