"""The ``weixin-gateway`` command.

Subcommands are loaded lazily (:class:`LazyGroup`): running ``serve`` imports only
:mod:`.serve`, not the simulator, the Official Account gateway or the remote commands' rich
output, which keeps the long-running gateway process small. Listing the commands
(``weixin-gateway --help``) imports every module.
"""

from __future__ import annotations

import importlib

import click

from weixin_gateway import __version__

__all__ = ["COMMAND_MODULES", "REMOTE_MODULE", "LazyGroup", "cli", "main"]

#: The commands defined one per module: name -> (module in this package, attribute).
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "serve": ("serve", "serve_command"),
    "mp": ("mp", "mp"),
    "simulator": ("simulator", "simulator"),
    "demo": ("demo", "demo"),
}
#: The module whose ``REMOTE_COMMANDS`` are every other command (their names are read from it).
REMOTE_MODULE = "remote"


def _remote_commands() -> dict[str, click.Command]:
    module = importlib.import_module(f"{__name__}.{REMOTE_MODULE}")
    commands: list[click.Command] = module.REMOTE_COMMANDS
    return {command.name: command for command in commands if command.name is not None}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when the subcommand is asked for.

    The commands of :data:`COMMAND_MODULES` are found by name; any other name loads
    :data:`REMOTE_MODULE` and is looked up in its ``REMOTE_COMMANDS``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES, *_remote_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        if cmd_name in COMMAND_MODULES:
            module_name, attribute = COMMAND_MODULES[cmd_name]
            module = importlib.import_module(f"{__name__}.{module_name}")
            command = getattr(module, attribute)
        else:
            command = _remote_commands().get(cmd_name)
            if command is None:
                return None
        self.add_command(command, cmd_name)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.version_option(__version__, prog_name="weixin-gateway")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """WeChat gateway for agents: iLink bots, Official Accounts and a local simulator.

    Without a command, runs the gateway service (``serve``).
    """
    if ctx.invoked_subcommand is None:
        from .serve import serve_command

        ctx.invoke(serve_command)


def main() -> None:
    """Console-script entry point."""
    cli()
