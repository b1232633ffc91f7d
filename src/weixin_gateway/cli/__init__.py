"""The ``weixin-gateway`` command."""

from __future__ import annotations

import click

from weixin_gateway import __version__

from .mp import mp
from .simulator import simulator

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weixin-gateway")
def cli() -> None:
    """WeChat gateway for agents: iLink bots, Official Accounts and a local simulator."""


cli.add_command(mp)
cli.add_command(simulator)


def main() -> None:
    """Console-script entry point."""
    cli()
