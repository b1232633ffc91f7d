"""The ``weixin-gateway`` command."""

from __future__ import annotations

import click

from weixin_gateway import __version__

from .demo import demo
from .mp import mp
from .remote import REMOTE_COMMANDS
from .serve import serve_command
from .simulator import simulator

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="weixin-gateway")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """WeChat gateway for agents: iLink bots, Official Accounts and a local simulator.

    Without a command, runs the gateway service (``serve``).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve_command)


cli.add_command(mp)
cli.add_command(simulator)
cli.add_command(serve_command)
for _command in REMOTE_COMMANDS:
    cli.add_command(_command)
cli.add_command(demo)


def main() -> None:
    """Console-script entry point."""
    cli()
