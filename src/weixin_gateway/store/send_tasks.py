"""``POST /send/async`` requests and their outcome: the ``send_tasks`` table.

A task is ``queued`` → ``running`` → ``succeeded`` or ``failed``. Queued tasks survive a restart
and run then; a task that was ``running`` when the process died is marked ``failed`` with
"interrupted" — some of its items may have gone out, and resending could duplicate them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from weixin_gateway.store._base import TableGateway
from weixin_gateway.store.tables import send_tasks

__all__ = ["SendTaskRecord", "SendTaskStore"]


@dataclass(frozen=True, slots=True)
class SendTaskRecord:
    id: str
    account_id: str
    to_user_id: str
    request: dict[str, Any]
    status: str
    results: list[dict[str, Any]]
    error: str
    error_status: int | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> SendTaskRecord:
        values = dict(row._mapping)
        values["request"] = json.loads(values["request"])
        values["results"] = json.loads(values["results"] or "[]")
        return cls(**values)


class SendTaskStore(TableGateway):
    """The ``send_tasks`` table."""

    async def create(
        self, task_id: str, *, account_id: str, to_user_id: str, request: dict[str, Any]
    ) -> SendTaskRecord:
        now = self.clock.time()
        async with self.write() as connection:
            row = (
                await connection.execute(
                    insert(send_tasks)
                    .values(
                        id=task_id,
                        account_id=account_id,
                        to_user_id=to_user_id,
                        request=json.dumps(request, ensure_ascii=False),
                        status="queued",
                        results="[]",
                        error="",
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(send_tasks)
                )
            ).one()
        return SendTaskRecord.from_row(row)

    async def get(self, task_id: str) -> SendTaskRecord | None:
        async with self.read() as connection:
            row = (
                await connection.execute(select(send_tasks).where(send_tasks.c.id == task_id))
            ).first()
        return SendTaskRecord.from_row(row) if row is not None else None

    async def set_status(
        self,
        task_id: str,
        status: str,
        *,
        results: list[dict[str, Any]] | None = None,
        error: str = "",
        error_status: int | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "error": error,
            "error_status": error_status,
            "updated_at": self.clock.time(),
        }
        if results is not None:
            values["results"] = json.dumps(results, ensure_ascii=False)
        async with self.write() as connection:
            await connection.execute(
                update(send_tasks).where(send_tasks.c.id == task_id).values(**values)
            )

    async def queued(self) -> list[SendTaskRecord]:
        """The tasks waiting to run, oldest first."""
        async with self.read() as connection:
            rows = await connection.execute(
                select(send_tasks)
                .where(send_tasks.c.status == "queued")
                .order_by(send_tasks.c.created_at)
            )
            return [SendTaskRecord.from_row(r) for r in rows]

    async def recover(self) -> list[SendTaskRecord]:
        """After a restart: fail the interrupted tasks; return the queued ones, oldest first."""
        now = self.clock.time()
        async with self.write() as connection:
            await connection.execute(
                update(send_tasks)
                .where(send_tasks.c.status == "running")
                .values(
                    status="failed",
                    error="interrupted by a restart; some items may have been sent",
                    updated_at=now,
                )
            )
            rows = await connection.execute(
                select(send_tasks)
                .where(send_tasks.c.status == "queued")
                .order_by(send_tasks.c.created_at)
            )
            return [SendTaskRecord.from_row(r) for r in rows]
