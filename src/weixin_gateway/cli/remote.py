"""The commands that drive a running gateway over its REST API (``weixin-gateway serve``).

Seed 000's command line, with its names and options: ``health``, ``accounts``,
``accounts:show``, ``accounts:remove``, ``login:start``, ``login:status``, ``login:watch``,
``login:cancel``, ``poll:status``, ``poll:start``, ``poll:stop``, ``inbox:list``, ``inbox:show``,
``inbox:claim``, ``inbox:complete``, ``inbox:fail``, ``typing:send``, ``typing:cancel``. Ours:
``accounts:register``, ``login`` (the QR code in the terminal, followed to the end),
``send``, ``send:status``, ``inbox:claim-batch``, ``inbox:complete-batch``, ``inbox:fail-batch``,
``deliveries:list``, ``deliveries:redeliver``.

::

    weixin-gateway login --account-id wx-main          # scan, confirm, done
    weixin-gateway inbox:list --status pending --limit 10
    weixin-gateway send --account-id wx-main --to-user-id USER --text "hi" --json

Every command takes the options of :func:`gateway_command`: ``--gateway-url``
(``WEIXIN_GATEWAY_URL``, default ``http://127.0.0.1:$PORT``), ``--api-token``
(``WEIXIN_GATEWAY_API_TOKEN``) and ``--json``, which prints the gateway's answer as pretty UTF-8
JSON instead of a summary (``login`` and ``login:watch`` print one answer per line, one for each
change of the session's state).

Exit status: 0 done; 1 the gateway refused (its ``error`` on stderr), could not be reached, a
batch complete or fail left some message unsettled, or a login ended without an account; 2 bad
usage; 130 a login interrupted with Ctrl-C (``login`` cancels its session then; ``login:watch``
leaves the session running).
"""

from __future__ import annotations

import functools
import json
import mimetypes
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn
from urllib.parse import quote

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from weixin_gateway.ilink.qr import qr_terminal

from .client import (
    DEFAULT_TIMEOUT_S,
    TOKEN_ENV,
    URL_ENV,
    GatewayClient,
    GatewayError,
    default_base_url,
    normalize_base_url,
)

__all__ = ["REMOTE_COMMANDS", "Remote", "gateway_command"]

Answer = dict[str, Any]

EXIT_INTERRUPTED = 130
LOGIN_POLL_INTERVAL_S = 1.0
FINAL_LOGIN_STATES = frozenset({"completed", "expired", "cancelled", "failed"})
BOT_TOKEN_ENV = "WEIXIN_BOT_TOKEN"  # noqa: S105 - a variable name, not a secret
_PREVIEW_CHARS = 48

#: Every command of this module, in definition order (``cli/__init__.py`` adds them).
REMOTE_COMMANDS: list[click.Command] = []


# --- the shared options and the command decorator ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remote:
    """What each command gets first: the gateway's client and how to print answers."""

    client: GatewayClient
    as_json: bool

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        params: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> Answer:
        """The JSON answer of a successful request (a refusal exits with status 1)."""
        return self.client.request(method, path, body, params, timeout=timeout)

    def show(self, answer: Answer, render: Callable[[Answer], None]) -> None:
        """Print ``answer``: as pretty JSON with ``--json``, else with ``render``."""
        if self.as_json:
            click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        else:
            render(answer)


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    return normalize_base_url(value) if value else default_base_url()


def _shared_options() -> list[click.Option]:
    return [
        click.Option(
            ["--gateway-url"],
            metavar="URL",
            envvar=URL_ENV,
            show_envvar=True,
            callback=_base_url,
            help="Base URL of the gateway [default: http://127.0.0.1:$PORT, PORT 8787].",
        ),
        click.Option(
            ["--api-token"],
            metavar="TOKEN",
            envvar=TOKEN_ENV,
            show_envvar=True,
            help="Bearer token of the gateway's API (the gateway's WEIXIN_GATEWAY_API_TOKEN).",
        ),
        click.Option(
            ["--json", "as_json"],
            is_flag=True,
            help="Print the gateway's JSON answer instead of a summary.",
        ),
    ]


def gateway_command(name: str) -> Callable[[Callable[..., None]], click.Command]:
    """A command that talks to the gateway.

    Adds ``--gateway-url``, ``--api-token`` and ``--json``; the function gets a :class:`Remote`
    first, then its own options. The command is appended to :data:`REMOTE_COMMANDS`.
    """

    def decorate(func: Callable[..., None]) -> click.Command:
        @functools.wraps(func)
        def run(*, gateway_url: str, api_token: str | None, as_json: bool, **options: Any) -> None:
            func(Remote(GatewayClient(gateway_url, api_token or ""), as_json), **options)

        command = click.command(name)(run)
        command.params.extend(_shared_options())
        REMOTE_COMMANDS.append(command)
        return command

    return decorate


def _account_option(*, required: bool, help: str) -> Callable[[Any], Any]:
    return click.option("--account-id", required=required, metavar="ID", help=help)


_MESSAGE_ID = click.option(
    "--message-id", required=True, metavar="ID", help="Inbox message id (the id of inbox:list)."
)
_SESSION_ID = click.option(
    "--session-id", required=True, metavar="ID", help="Login session id (from login:start)."
)
_LEASE_MS = click.option(
    "--lease-ms",
    type=click.IntRange(1000, 86_400_000),
    help="How long the claim holds [default: the gateway's WEIXIN_GATEWAY_LEASE_MS].",
)
_WAIT = click.option(
    "--wait",
    type=click.FloatRange(0, 60),
    default=0.0,
    help="Seconds to wait for a message when there is none yet (long poll).",
)


def _path(template: str, *ids: str) -> str:
    return template.format(*(quote(i, safe="") for i in ids))


def _body(**fields: object) -> dict[str, object]:
    """A request body without the options that were not given."""
    return {key: value for key, value in fields.items() if value is not None}


def _long_poll(wait: float) -> float:
    return DEFAULT_TIMEOUT_S + wait


# --- printing ----------------------------------------------------------------------------------


def _print(renderable: Table) -> None:
    """Print a rich table through click (so that it lands where ``click.echo`` writes)."""
    console = Console(highlight=False, soft_wrap=False, emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # pipes and files: keep ids whole
    with console.capture() as capture:
        console.print(renderable)
    click.echo("\n".join(line.rstrip() for line in capture.get().splitlines()))


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _preview(text: object) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def _show_fields(pairs: Iterable[tuple[str, object]]) -> None:
    """One ``label  value`` line per pair that has a value."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in pairs:
        if value is None or value == "" or value == [] or value == {}:
            continue
        grid.add_row(Text(label + ":"), Text(_plain(value)))
    _print(grid)


def _show_table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str) -> None:
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_plain(cell)) for cell in row))
    _print(table)


def _account_fields(account: Answer) -> list[tuple[str, object]]:
    status = account.get("status") or {}
    return [
        ("account", account.get("account_id")),
        ("state", status.get("session_state")),
        ("polling", status.get("polling_running")),
        ("bot id", account.get("bot_id")),
        ("wechat uin", account.get("wechat_uin")),
        ("api base url", account.get("api_base_url")),
        ("last forwarded", status.get("last_forwarded")),
        ("last poll", status.get("last_poll_finished_at")),
        ("last error", status.get("last_error")),
        ("created", account.get("created_at")),
        ("updated", account.get("updated_at")),
    ]


def _show_accounts(accounts: list[Answer]) -> None:
    rows = []
    for account in accounts:
        status = account.get("status") or {}
        rows.append(
            [
                account.get("account_id"),
                status.get("session_state"),
                status.get("polling_running"),
                account.get("wechat_uin"),
                status.get("last_poll_finished_at"),
                status.get("last_error"),
            ]
        )
    columns = ["account", "state", "polling", "wechat uin", "last poll", "last error"]
    _show_table(columns, rows, empty="no accounts (log one in: weixin-gateway login)")


def _message_fields(message: Answer) -> list[tuple[str, object]]:
    claim = message.get("claim") or {}
    attachments = [
        f"{a.get('kind', 'file')}: {a.get('path', '')}" for a in message.get("attachments") or []
    ]
    return [
        ("message", message.get("id")),
        ("event id", message.get("event_id")),
        ("status", message.get("status")),
        ("account", message.get("account_id")),
        ("user", message.get("user_id")),
        ("attempts", message.get("attempts")),
        ("claimed by", claim.get("worker_id")),
        ("lease until", claim.get("lease_expires_at")),
        ("text", message.get("text")),
        ("attachments", "\n".join(attachments)),
        ("context token", message.get("context_token")),
        ("error", message.get("error")),
        ("completion note", message.get("completion_note")),
        ("created", message.get("created_at")),
        ("completed", message.get("completed_at")),
        ("failed", message.get("failed_at")),
    ]


def _show_messages(messages: list[Answer], *, empty: str) -> None:
    with_errors = any(m.get("error") for m in messages)
    columns = ["id", "status", "account", "user", "attempts", "created", "text"]
    rows = []
    for m in messages:
        row = [
            m.get("id"),
            m.get("status"),
            m.get("account_id"),
            m.get("user_id"),
            m.get("attempts"),
            m.get("created_at"),
            _preview(m.get("text")),
        ]
        rows.append([*row, _preview(m.get("error"))] if with_errors else row)
    _show_table([*columns, "error"] if with_errors else columns, rows, empty=empty)


def _result_line(result: Answer) -> str:
    if result.get("type") == "text":
        ids = ", ".join(str(i) for i in result.get("message_ids") or [])
        return f"text in {result.get('messages', 0)} message(s): {ids}"
    name = result.get("file_name") or ""
    return f"{result.get('kind', 'file')} {name} ({result.get('size', '?')} bytes): " + str(
        result.get("message_id", "")
    )


def _task_fields(task: Answer) -> list[tuple[str, object]]:
    results = [_result_line(r) for r in task.get("results") or [] if isinstance(r, dict)]
    return [
        ("task", task.get("id")),
        ("status", task.get("status")),
        ("account", task.get("account_id")),
        ("to user", task.get("to_user_id")),
        ("sent", "\n".join(results)),
        ("error", task.get("error")),
        ("error status", task.get("error_status")),
        ("created", task.get("created_at")),
        ("updated", task.get("updated_at")),
    ]


def _session_fields(session: Answer) -> list[tuple[str, object]]:
    return [
        ("session", session.get("session_id")),
        ("account", session.get("account_id")),
        ("state", session.get("state")),
        ("message", session.get("message")),
        ("qrcode", session.get("qrcode")),
        ("qrcode url", session.get("qrcode_url")),
    ]


def _polling_state(polling: Answer) -> str:
    running = "running" if polling.get("running") else "stopped"
    return f"{running} (interval {polling.get('interval_ms', '?')} ms)"


# --- health and accounts -------------------------------------------------------------------------


@gateway_command("health")
def health(remote: Remote) -> None:
    """Is the gateway up? Its delivery mode, polling and accounts."""

    def render(answer: Answer) -> None:
        accounts = answer.get("accounts") or {}
        counts = f"{accounts.get('active', 0)} active, {accounts.get('expired', 0)} expired"
        ok = "ok" if answer.get("ok") else "not ok"
        _show_fields(
            [
                ("gateway", f"{ok} at {remote.client.base_url}"),
                ("delivery mode", answer.get("delivery_mode")),
                ("polling", _polling_state(answer.get("polling") or {})),
                ("accounts", counts),
            ]
        )

    remote.show(remote.call("GET", "/health"), render)


@gateway_command("accounts")
def accounts(remote: Remote) -> None:
    """List the accounts: state, polling, last error."""
    remote.show(remote.call("GET", "/accounts"), lambda a: _show_accounts(a.get("accounts") or []))


@gateway_command("accounts:show")
@_account_option(required=True, help="The account to show.")
def accounts_show(remote: Remote, account_id: str) -> None:
    """Show one account."""
    answer = remote.call("GET", _path("/accounts/{}", account_id))
    remote.show(answer, lambda a: _show_fields(_account_fields(a["account"])))


@gateway_command("accounts:remove")
@_account_option(required=True, help="The account to remove.")
def accounts_remove(remote: Remote, account_id: str) -> None:
    """Remove an account (stops its polling; its messages stay)."""
    answer = remote.call("DELETE", _path("/accounts/{}", account_id))
    remote.show(answer, lambda a: click.echo(f"removed account {a['removed']['account_id']}"))


@gateway_command("accounts:register")
@_account_option(required=True, help="Id to register the bot under.")
@click.option(
    "--bot-token",
    required=True,
    envvar=BOT_TOKEN_ENV,
    show_envvar=True,
    metavar="TOKEN",
    help="The bot's token (from the environment, it stays out of the shell history).",
)
@click.option("--api-base-url", metavar="URL", help="iLink API base URL [default: the gateway's].")
@click.option("--cdn-base-url", metavar="URL", help="Media CDN base URL [default: the gateway's].")
@click.option("--wechat-uin", metavar="UIN", help="The owner's WeChat user id.")
@click.option("--bot-id", metavar="ID", help="The bot's id (…@im.bot).")
def accounts_register(
    remote: Remote,
    account_id: str,
    bot_token: str,
    api_base_url: str | None,
    cdn_base_url: str | None,
    wechat_uin: str | None,
    bot_id: str | None,
) -> None:
    """Register a bot whose token you already have (no QR login)."""
    body = _body(
        account_id=account_id,
        bot_token=bot_token,
        api_base_url=api_base_url,
        cdn_base_url=cdn_base_url,
        wechat_uin=wechat_uin,
        bot_id=bot_id,
    )
    answer = remote.call("POST", "/accounts/register", body)

    def render(a: Answer) -> None:
        click.echo(f"registered account {a['account']['account_id']}")
        _show_fields(_account_fields(a["account"]))

    remote.show(answer, render)


# --- login ---------------------------------------------------------------------------------------

_LOGIN_ACCOUNT = _account_option(
    required=False, help="Account id to save the login under [default: a new wx-… id]."
)
_LOGIN_API_BASE_URL = click.option(
    "--api-base-url", metavar="URL", help="iLink API base URL [default: the gateway's]."
)


def _start_login(remote: Remote, account_id: str | None, api_base_url: str | None) -> Answer:
    body = _body(account_id=account_id, api_base_url=api_base_url)
    return remote.call("POST", "/login/qr/start", body)


def _login_status(remote: Remote, session_id: str) -> Answer:
    return remote.call("GET", "/login/qr/status", params={"session_id": session_id})


def _session(answer: Answer) -> Answer:
    session = answer.get("session")
    if not isinstance(session, dict) or not session.get("session_id"):
        raise GatewayError("the gateway's answer has no login session", answer=answer)
    return session


def _draw_qr(session: Answer) -> None:
    url = str(session.get("qrcode_url") or "")
    click.echo(qr_terminal(url))
    click.echo(f"Scan with WeChat: {url}")
    click.echo(f"session {session.get('session_id')} (account {session.get('account_id')})")


def _ask_pair_code(to_stderr: bool) -> str:
    while True:
        click.echo("pair code shown on the phone: ", nl=False, err=to_stderr)
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("no pair code given (stdin is closed)")
        if code := line.strip():
            return code


def _follow_login(remote: Remote, answer: Answer) -> Answer:
    """Poll the session until it ends; print each change once, ask for pair codes.

    Returns the last answer (the session in a final state). Draws each new QR code (a fresh one
    replaces an expired code) unless ``--json``, which prints every changed answer on one line.
    """
    session_id = str(_session(answer)["session_id"])
    shown_state: object = None
    shown_qr: object = None
    code_given = False
    while True:
        session = _session(answer)
        state = session.get("state")
        if remote.as_json:
            if state != shown_state:
                click.echo(json.dumps(answer, ensure_ascii=False))
        else:
            if session.get("qrcode_url") and session.get("qrcode_url") != shown_qr:
                _draw_qr(session)
                shown_qr = session.get("qrcode_url")
            if state != shown_state:
                click.echo(f"login {state}: {session.get('message') or ''}".rstrip())
        shown_state = state
        if state in FINAL_LOGIN_STATES:
            return answer
        if state != "need_verifycode":
            code_given = False
        elif not code_given or session.get("verify_code_rejected"):
            if code_given:
                click.echo("that pair code was wrong", err=True)
            code = _ask_pair_code(to_stderr=remote.as_json)
            remote.call("POST", "/login/qr/verify-code", {"session_id": session_id, "code": code})
            code_given = True
        time.sleep(LOGIN_POLL_INTERVAL_S)
        answer = _login_status(remote, session_id)


def _run_login(remote: Remote, begin: Callable[[], Answer], *, cancel_on_interrupt: bool) -> None:
    """``begin()`` (start or look up a session), follow it, and exit as its end says."""
    session_id: str | None = None
    try:
        first = begin()
        session_id = str(_session(first)["session_id"])
        last = _follow_login(remote, first)
    except KeyboardInterrupt:
        _interrupted(remote, session_id, cancel=cancel_on_interrupt)
    session = _session(last)
    if session.get("state") != "completed":
        message = session.get("message") or "no account was saved"
        raise click.ClickException(f"login {session.get('state')}: {message}")
    if not remote.as_json:
        click.echo(f"logged in: account {session.get('account_id')}")


def _interrupted(remote: Remote, session_id: str | None, *, cancel: bool) -> NoReturn:
    click.echo("", err=True)
    if session_id is not None and cancel:
        try:
            remote.call("POST", "/login/qr/cancel", {"session_id": session_id})
        except (GatewayError, KeyboardInterrupt):
            click.echo(f"could not cancel login session {session_id}", err=True)
        else:
            click.echo(f"login session {session_id} cancelled", err=True)
    elif session_id is not None:
        click.echo(
            f"stopped watching; login session {session_id} goes on "
            f"(weixin-gateway login:cancel --session-id {session_id} cancels it)",
            err=True,
        )
    raise click.exceptions.Exit(EXIT_INTERRUPTED)


@gateway_command("login")
@_LOGIN_ACCOUNT
@_LOGIN_API_BASE_URL
def login(remote: Remote, account_id: str | None, api_base_url: str | None) -> None:
    """Log a bot in: show the QR code and follow the login to its end.

    Prints each change of state; asks for the pair code when the phone shows one. Exits 0 once
    the account is saved, 1 when the login expired, failed or was cancelled; Ctrl-C cancels it.
    """
    _run_login(
        remote, lambda: _start_login(remote, account_id, api_base_url), cancel_on_interrupt=True
    )


@gateway_command("login:start")
@_LOGIN_ACCOUNT
@_LOGIN_API_BASE_URL
def login_start(remote: Remote, account_id: str | None, api_base_url: str | None) -> None:
    """Start a QR-code login: prints the session id and the QR code (see login:watch)."""

    def render(answer: Answer) -> None:
        session = _session(answer)
        _draw_qr(session)
        click.echo(f"then: weixin-gateway login:watch --session-id {session['session_id']}")

    remote.show(_start_login(remote, account_id, api_base_url), render)


@gateway_command("login:status")
@_SESSION_ID
def login_status(remote: Remote, session_id: str) -> None:
    """Show a login session's state."""
    remote.show(
        _login_status(remote, session_id), lambda a: _show_fields(_session_fields(_session(a)))
    )


@gateway_command("login:watch")
@_SESSION_ID
def login_watch(remote: Remote, session_id: str) -> None:
    """Follow a login session to its end, like login (Ctrl-C stops watching, not the login)."""
    _run_login(remote, lambda: _login_status(remote, session_id), cancel_on_interrupt=False)


@gateway_command("login:cancel")
@_SESSION_ID
def login_cancel(remote: Remote, session_id: str) -> None:
    """Cancel a login session."""
    answer = remote.call("POST", "/login/qr/cancel", {"session_id": session_id})
    remote.show(
        answer, lambda a: click.echo(f"login session {session_id}: {_session(a).get('state')}")
    )


# --- polling -------------------------------------------------------------------------------------


@gateway_command("poll:status")
def poll_status(remote: Remote) -> None:
    """Show whether the gateway polls WeChat, and how its last round went."""

    def render(answer: Answer) -> None:
        polling = answer.get("polling") or {}
        click.echo(f"polling: {_polling_state(polling)}")
        _show_fields(
            [
                ("delivery mode", answer.get("delivery_mode")),
                ("last started", polling.get("last_started_at")),
                ("last finished", polling.get("last_finished_at")),
                ("last error", polling.get("last_error")),
            ]
        )
        results = [r for r in polling.get("last_results") or [] if isinstance(r, dict)]
        rows = [[r.get("account_id"), r.get("forwarded"), r.get("error")] for r in results]
        if rows:
            _show_table(["account", "forwarded", "error"], rows, empty="")

    remote.show(remote.call("GET", "/poll/status"), render)


def _polling_command(name: str, path: str, summary: str) -> click.Command:
    def run(remote: Remote) -> None:
        def render(answer: Answer) -> None:
            click.echo(f"polling: {_polling_state(answer.get('polling') or {})}")

        remote.show(remote.call("POST", path), render)

    run.__doc__ = summary
    return gateway_command(name)(run)


poll_start = _polling_command("poll:start", "/poll/start", "Start polling every active account.")
poll_stop = _polling_command("poll:stop", "/poll/stop", "Stop polling (messages wait in WeChat).")


# --- inbox ---------------------------------------------------------------------------------------

_INBOX_STATUSES = ("pending", "claimed", "completed", "failed", "dead", "delivered", "all")


@gateway_command("inbox:list")
@click.option("--status", type=click.Choice(_INBOX_STATUSES), default="pending", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@_account_option(required=False, help="Only this account's messages.")
@_WAIT
def inbox_list(
    remote: Remote, status: str, limit: int, account_id: str | None, wait: float
) -> None:
    """List inbox messages (oldest first)."""
    params = {"status": status, "limit": limit, "account_id": account_id, "wait": wait or None}
    answer = remote.call("GET", "/inbox/messages", params=params, timeout=_long_poll(wait))
    remote.show(answer, lambda a: _show_messages(a.get("messages") or [], empty="no messages"))


def _show_message(answer: Answer) -> None:
    _show_fields(_message_fields(answer["message"]))


@gateway_command("inbox:show")
@_MESSAGE_ID
def inbox_show(remote: Remote, message_id: str) -> None:
    """Show one inbox message."""
    remote.show(remote.call("GET", _path("/inbox/messages/{}", message_id)), _show_message)


@gateway_command("inbox:claim")
@_MESSAGE_ID
@click.option("--worker-id", required=True, metavar="ID", help="Who takes the message.")
@_LEASE_MS
def inbox_claim(remote: Remote, message_id: str, worker_id: str, lease_ms: int | None) -> None:
    """Claim a message, so that no other worker takes it while the lease runs."""
    body = _body(worker_id=worker_id, lease_ms=lease_ms)
    answer = remote.call("POST", _path("/inbox/messages/{}/claim", message_id), body)
    remote.show(answer, _show_message)


@gateway_command("inbox:claim-batch")
@click.option("--worker-id", required=True, metavar="ID", help="Who takes the messages.")
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@_LEASE_MS
@_account_option(required=False, help="Only this account's messages.")
@_WAIT
def inbox_claim_batch(
    remote: Remote,
    worker_id: str,
    limit: int,
    lease_ms: int | None,
    account_id: str | None,
    wait: float,
) -> None:
    """Claim the oldest pending messages at once (waiting up to --wait seconds for one)."""
    body = _body(
        worker_id=worker_id, limit=limit, lease_ms=lease_ms, account_id=account_id, wait=wait
    )
    answer = remote.call("POST", "/inbox/claim", body, timeout=_long_poll(wait))
    remote.show(
        answer, lambda a: _show_messages(a.get("messages") or [], empty="no messages claimed")
    )


_SETTLING_WORKER = click.option(
    "--worker-id", metavar="ID", help="Refuse unless this worker holds the claim."
)


@gateway_command("inbox:complete")
@_MESSAGE_ID
@click.option("--completion-note", metavar="TEXT", help="What was done (kept with the message).")
@_SETTLING_WORKER
def inbox_complete(
    remote: Remote, message_id: str, completion_note: str | None, worker_id: str | None
) -> None:
    """Mark a message done."""
    body = _body(completion_note=completion_note, worker_id=worker_id)
    answer = remote.call("POST", _path("/inbox/messages/{}/complete", message_id), body)
    remote.show(answer, _show_message)


@gateway_command("inbox:fail")
@_MESSAGE_ID
@click.option("--error", required=True, metavar="TEXT", help="What went wrong.")
@_SETTLING_WORKER
def inbox_fail(remote: Remote, message_id: str, error: str, worker_id: str | None) -> None:
    """Give a message back as failed (it is offered again, or dead after too many tries)."""
    body = _body(error=error, worker_id=worker_id)
    answer = remote.call("POST", _path("/inbox/messages/{}/fail", message_id), body)
    remote.show(answer, _show_message)


#: The most message ids one batch complete or fail takes (the gateway's limit).
MAX_SETTLE_BATCH = 500
_MESSAGE_IDS = click.argument("message_ids", nargs=-1, required=True, metavar="ID...")


def _show_settled(answer: Answer) -> None:
    results: list[Answer] = answer.get("results") or []
    refused = [r for r in results if not r.get("ok")]
    click.echo(f"{len(results) - len(refused)} of {len(results)} message(s) settled")
    rows = []
    for result in results:
        message = result.get("message") or {}
        outcome = message.get("status") if result.get("ok") else "refused"
        row = [result.get("message_id"), outcome, message.get("attempts")]
        rows.append([*row, result.get("error")] if refused else row)
    columns = ["id", "outcome", "attempts"]
    _show_table([*columns, "error"] if refused else columns, rows, empty="")


def _settle_batch(
    remote: Remote, action: str, message_ids: Sequence[str], **fields: object
) -> None:
    """``POST /inbox/<action>`` for ``message_ids``: exit 1 when any of them was not settled."""
    if len(message_ids) > MAX_SETTLE_BATCH:
        raise click.UsageError(
            f"at most {MAX_SETTLE_BATCH} message ids at once, got {len(message_ids)}"
        )
    body = _body(message_ids=list(message_ids), **fields)
    answer = remote.call("POST", f"/inbox/{action}", body)
    remote.show(answer, _show_settled)
    results: list[Answer] = answer.get("results") or []
    refused = [r for r in results if not r.get("ok")]
    if refused:
        raise GatewayError(
            f"{len(refused)} of {len(results)} message(s) not settled "
            f"(first: {refused[0].get('error')})",
            answer=answer,
        )


@gateway_command("inbox:complete-batch")
@_MESSAGE_IDS
@click.option(
    "--note", "--completion-note", metavar="TEXT", help="What was done (kept with each message)."
)
@_SETTLING_WORKER
def inbox_complete_batch(
    remote: Remote, message_ids: tuple[str, ...], note: str | None, worker_id: str | None
) -> None:
    """Mark many messages done in one request (at most 500; each one's outcome is listed)."""
    _settle_batch(remote, "complete", message_ids, completion_note=note, worker_id=worker_id)


@gateway_command("inbox:fail-batch")
@_MESSAGE_IDS
@click.option("--error", metavar="TEXT", help="What went wrong (kept with each message).")
@_SETTLING_WORKER
def inbox_fail_batch(
    remote: Remote, message_ids: tuple[str, ...], error: str | None, worker_id: str | None
) -> None:
    """Give many messages back as failed in one request (at most 500; each one's outcome is
    listed)."""
    _settle_batch(remote, "fail", message_ids, error=error, worker_id=worker_id)


# --- deliveries ----------------------------------------------------------------------------------


@gateway_command("deliveries:list")
@click.option(
    "--status",
    type=click.Choice(["dead", "pending", "delivered"]),
    default="dead",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@_account_option(required=False, help="Only this account's events.")
def deliveries_list(remote: Remote, status: str, limit: int, account_id: str | None) -> None:
    """List events by delivery status (by default the dead ones, that gave up)."""
    params = {"status": status, "limit": limit, "account_id": account_id}
    answer = remote.call("GET", "/deliveries", params=params)
    remote.show(
        answer, lambda a: _show_messages(a.get("events") or [], empty=f"no {status} events")
    )


@gateway_command("deliveries:redeliver")
@click.option(
    "--event-id", "event_ids", multiple=True, metavar="ID", help="A dead event (repeatable)."
)
@click.option("--all", "all_dead", is_flag=True, help="Every dead event.")
@_account_option(required=False, help="Only this account's events.")
def deliveries_redeliver(
    remote: Remote, event_ids: tuple[str, ...], all_dead: bool, account_id: str | None
) -> None:
    """Deliver dead events again (give --event-id ... or --all)."""
    if bool(event_ids) == all_dead:
        raise click.UsageError("give --event-id (one or more) or --all")
    body = _body(event_ids=list(event_ids), all=all_dead, account_id=account_id)
    answer = remote.call("POST", "/deliveries/redeliver", body)

    def render(a: Answer) -> None:
        ids = a.get("redelivered") or []
        click.echo(f"redelivered {len(ids)} event(s)")
        for event_id in ids:
            click.echo(f"  {event_id}")

    remote.show(answer, render)


# --- typing and sending --------------------------------------------------------------------------

_TO_USER = click.option("--to-user-id", required=True, metavar="ID", help="The WeChat user.")
_CONTEXT_TOKEN = click.option(
    "--context-token",
    metavar="TOKEN",
    help="context_token of the user's message [default: the latest one the gateway saw].",
)
_SENDING_ACCOUNT = _account_option(required=True, help="The bot account that sends.")


def _typing_command(name: str, status: Literal["typing", "cancel"], summary: str) -> click.Command:
    def run(remote: Remote, account_id: str, to_user_id: str, context_token: str | None) -> None:
        body = _body(
            account_id=account_id,
            to_user_id=to_user_id,
            context_token=context_token,
            status=status,
        )
        answer = remote.call("POST", "/typing", body)
        done = "shown to" if status == "typing" else "cancelled for"
        remote.show(answer, lambda _: click.echo(f"typing indicator {done} {to_user_id}"))

    run.__doc__ = summary
    return gateway_command(name)(_SENDING_ACCOUNT(_TO_USER(_CONTEXT_TOKEN(run))))


typing_send = _typing_command(
    "typing:send", "typing", "Show “typing…” to a user (needs a recent message from them)."
)
typing_cancel = _typing_command("typing:cancel", "cancel", "Stop showing “typing…” to a user.")

_URL_PREFIXES = ("http://", "https://", "file://")


def _file_type_of(name: str) -> int:
    """1 for images, 2 for videos, else 4 (a file), by the name's extension."""
    kind, _ = mimetypes.guess_type(name, strict=False)
    if kind and kind.startswith("image/"):
        return 1
    if kind and kind.startswith("video/"):
        return 2
    return 4


def _send_item(
    text: str | None, file: str | None, file_type: int | None, as_voice: bool
) -> dict[str, object]:
    if (text is None) == (file is None):
        raise click.UsageError("give exactly one of --text and --file")
    if text is not None:
        if file_type is not None or as_voice:
            raise click.UsageError("--file-type and --as-voice go with --file")
        return {"type": "text", "text": text}
    assert file is not None
    url = file if file.startswith(_URL_PREFIXES) else os.path.abspath(os.path.expanduser(file))
    if as_voice:
        if file_type not in (None, 3):
            raise click.UsageError("--as-voice needs --file-type 3")
        file_type = 3
    item: dict[str, object] = {"type": "file", "file_type": file_type or _file_type_of(url)}
    item["url"] = url
    if as_voice:
        item["as_voice"] = True
    return item


@gateway_command("send")
@_SENDING_ACCOUNT
@_TO_USER
@_CONTEXT_TOKEN
@click.option("--text", metavar="TEXT", help="Send this text.")
@click.option(
    "--file",
    metavar="PATH",
    help="Send this file: a path the gateway can read (made absolute) or an http(s):// URL.",
)
@click.option(
    "--file-type",
    type=click.IntRange(1, 4),
    help="1 image, 2 video, 3 voice, 4 file [default: by extension: images 1, videos 2, else 4].",
)
@click.option("--as-voice", is_flag=True, help="Send SILK audio as a voice bubble (file type 3).")
def send(
    remote: Remote,
    account_id: str,
    to_user_id: str,
    context_token: str | None,
    text: str | None,
    file: str | None,
    file_type: int | None,
    as_voice: bool,
) -> None:
    """Send a text or a file to a user (give exactly one of --text and --file)."""
    item = _send_item(text, file, file_type, as_voice)
    body = _body(
        account_id=account_id, to_user_id=to_user_id, context_token=context_token, items=[item]
    )
    answer = remote.call("POST", "/send", body)

    def render(a: Answer) -> None:
        click.echo(f"sent to {to_user_id} from {account_id}:")
        for result in a.get("results") or []:
            click.echo(f"  {_result_line(result)}")

    remote.show(answer, render)


@gateway_command("send:status")
@click.option("--task-id", required=True, metavar="ID", help="Task id (from POST /send/async).")
def send_status(remote: Remote, task_id: str) -> None:
    """Show a queued send task (POST /send/async) and what it sent."""
    answer = remote.call("GET", _path("/send/tasks/{}", task_id))
    remote.show(answer, lambda a: _show_fields(_task_fields(a["task"])))
