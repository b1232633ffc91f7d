"""The hot statements, compiled once per dialect and shape and run on the driver's cursor.

SQLAlchemy Core executes even a statement it has compiled and cached with a good deal of
per-execution work: the statement's cache key, an execution context, parameter processing, a
result object. For the few statements that run for every inbound message (storing a group of
polls, marking deliveries) that work cost more than SQLite itself: 0.43 ms of CPU for a
one-message group against 0.16 ms for the same statements on the driver's cursor (measured on
the writer thread, see ``docs/benchmarks/analysis.md``). On SQLite that time holds the GIL the
event loop needs; on PostgreSQL the body runs on the event loop itself.

A :class:`CompiledStatement` keeps the statement as SQLAlchemy Core (one definition for every
dialect), compiles it the first time a dialect and a shape are used, and then only maps the
parameters to the driver's order and calls the DBAPI cursor of the transaction's connection,
inside the same transaction. A *shape* is the number of values in each ``IN`` list (or of rows
in a multi-row ``INSERT``); :func:`padded` rounds list lengths up so that few shapes occur, the
missing places repeating the last value (harmless in an ``IN`` list).

The parameters are passed to the driver as they are: the columns these statements bind are
text, integers, floats and booleans, which both drivers take unconverted (the store's test
suite runs these statements on SQLite and on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, false
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

__all__ = ["CompiledStatement", "in_numbered", "numbered", "padded"]

#: Lists up to this long are padded to a power of two, longer ones to a multiple of it.
_PAD_STEP = 512
#: At most this many compiled forms are kept per statement.
_MAX_SHAPES = 256


def padded(values: Sequence[Any]) -> list[Any]:
    """``values`` lengthened, by repeating the last one, to one of few lengths."""
    n = len(values)
    if n == 0:
        return []
    size = 1 << (n - 1).bit_length() if n <= _PAD_STEP else -(-n // _PAD_STEP) * _PAD_STEP
    return [*values, *([values[-1]] * (size - n))]


def in_numbered(column: ColumnElement[Any], prefix: str, n: int) -> ColumnElement[bool]:
    """``column IN (:prefix0, …, :prefix{n-1})`` (false when ``n`` is 0); see :func:`numbered`."""
    if n == 0:
        return false()
    return column.in_([bindparam(f"{prefix}{i}") for i in range(n)])


def numbered(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """``values`` as the parameters ``prefix0``, ``prefix1``, … of :func:`in_numbered`."""
    return {f"{prefix}{i}": value for i, value in enumerate(values)}


class _Compiled:
    """One statement compiled for one dialect and shape: its SQL and how to order parameters."""

    __slots__ = ("defaults", "names", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        #: positional drivers: the parameter names in the driver's order; named ones: None
        self.names: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        #: the values the statement itself binds (literals in ``values(...)``); the others
        #: are ``None`` here and come from the caller's parameters
        self.defaults = dict(compiled.params)

    def arguments(self, params: Mapping[str, Any]) -> Any:
        merged = {**self.defaults, **params}
        if self.names is None:
            return merged
        return [merged[name] for name in self.names]


class CompiledStatement:
    """A Core statement built by ``build(*shape)``, executed without SQLAlchemy's execution
    machinery (see the module docstring)."""

    def __init__(self, build: Callable[..., ClauseElement]) -> None:
        self._build = build
        self._cache: dict[tuple[str, str, tuple[int, ...]], _Compiled] = {}

    def _compiled(self, dialect: Dialect, shape: tuple[int, ...]) -> _Compiled:
        key = (dialect.name, dialect.driver, shape)
        compiled = self._cache.get(key)
        if compiled is None:
            if len(self._cache) >= _MAX_SHAPES:
                self._cache.clear()  # shapes are few (padded); this only bounds the worst case
            compiled = self._cache[key] = _Compiled(self._build(*shape), dialect)
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
