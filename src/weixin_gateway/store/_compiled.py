"""The hot statements, compiled once per dialect and run on the driver's cursor.

SQLAlchemy Core executes even a statement it has compiled and cached with a good deal of
per-execution work: the statement's cache key, an execution context, parameter processing, a
result object. For the few statements that run for every inbound message (storing a group of
polls, marking deliveries) that work cost more than SQLite itself: 0.43 ms of CPU for a
one-message group against 0.16 ms for the same statements on the driver's cursor (measured on
the writer thread; the CHANGELOG has the figures before and after). On SQLite that time holds
the GIL the event loop needs; on PostgreSQL the body runs on the event loop itself.

A :class:`CompiledStatement` keeps the statement as SQLAlchemy Core (one definition for every
dialect), compiles it the first time a dialect (and a *shape*, the number of rows of a
multi-row ``INSERT``) is used, and then only maps the parameters to the driver's order and calls
the DBAPI cursor of the transaction's connection, inside the same transaction. A list of values
to match (``IN``) is one parameter (:func:`in_values`), not one per value: a statement with one
placeholder per value has a form per length, and compiling a large one costs milliseconds
(1.6 ms for a one-row ``INSERT`` of ``events``, 32 ms for 128 rows), which a run of varied
group sizes pays again and again.

The other parameters are passed to the driver as they are: the columns these statements bind
are text, integers, floats and booleans, which both drivers take unconverted (the store's test
suite runs these statements on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, any_, bindparam, func, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import UserDefinedType

__all__ = ["CompiledStatement", "ValueList", "in_values"]

#: At most this many compiled forms are kept per statement.
_MAX_SHAPES = 64


class ValueList(UserDefinedType[Sequence[Any]]):
    """A parameter holding a list of values (see :func:`in_values`)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "VALUE_LIST"


def in_values(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the values of the list parameter ``name``: one parameter whatever
    the list's length, so the statement has one form (and each side of an index search is
    still an index search). SQLite gets the list as a JSON array (``json_each``), PostgreSQL as
    an array (``= ANY``)."""
    values = bindparam(name, type_=ValueList())
    if dialect == "sqlite":
        return column.in_(select(literal_column("value")).select_from(func.json_each(values)))
    return column == any_(values)


def _json_array(values: Sequence[Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


class _Compiled:
    """One statement compiled for one dialect and shape: its SQL and how to order parameters."""

    __slots__ = ("defaults", "encode", "lists", "names", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        #: positional drivers: the parameter names in the driver's order; named ones: None
        self.names: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        #: the values the statement itself binds (literals in ``values(...)``); the others
        #: come from the caller's parameters
        self.defaults = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        #: the list parameters (:func:`in_values`), and how the driver takes a list
        self.lists = [n for n, b in compiled.binds.items() if isinstance(b.type, ValueList)]
        self.encode: Callable[[Sequence[Any]], Any] = (
            _json_array if dialect.name == "sqlite" else list
        )

    def arguments(self, params: Mapping[str, Any]) -> Any:
        """The driver's parameters (a ``KeyError`` names a parameter the caller left out)."""
        if self.lists:
            params = {**params, **{n: self.encode(params[n]) for n in self.lists}}
        if self.names is None:
            return {**self.defaults, **params}
        defaults = self.defaults
        return [params[n] if n in params else defaults[n] for n in self.names]


class CompiledStatement:
    """A Core statement built by ``build(dialect_name, *shape)``, executed without
    SQLAlchemy's execution machinery (see the module docstring)."""

    def __init__(self, build: Callable[..., ClauseElement]) -> None:
        self._build = build
        self._cache: dict[tuple[str, str, tuple[int, ...]], _Compiled] = {}

    def _compiled(self, dialect: Dialect, shape: tuple[int, ...]) -> _Compiled:
        key = (dialect.name, dialect.driver, shape)
        compiled = self._cache.get(key)
        if compiled is None:
            if len(self._cache) >= _MAX_SHAPES:
                self._cache.clear()  # shapes are few; this only bounds the worst case
            statement = self._build(dialect.name, *shape)
            compiled = self._cache[key] = _Compiled(statement, dialect)
        return compiled

    def __repr__(self) -> str:
        return f"CompiledStatement({self._build.__qualname__})"

    def rows(
        self, connection: Connection, params: Mapping[str, Any], *shape: int
    ) -> list[Sequence[Any]]:
        """Execute once; the rows it returns (``[]`` for a statement without any)."""
        compiled = self._compiled(connection.dialect, shape)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.arguments(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def many(self, connection: Connection, params: Iterable[Mapping[str, Any]]) -> None:
        """Execute once for each set of parameters (``executemany``; nothing comes back)."""
        compiled = self._compiled(connection.dialect, ())
        arguments = [compiled.arguments(p) for p in params]
        if not arguments:
            return
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(compiled.sql, arguments)
        finally:
            cursor.close()
