"""The ``weixin-gateway`` group loads its subcommands lazily (``cli/__init__.py``).

Running ``serve`` must not import the other commands' modules (the simulator, the Official
Account gateway, rich, segno, ...): every module imported at start-up stays resident in the
long-running gateway process. The lazy name table must still name exactly the commands the
modules define, and ``--help`` must still list them all.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from types import ModuleType

import click
import pytest
from click.testing import CliRunner

import weixin_gateway.cli as cli_package
from weixin_gateway import __version__
from weixin_gateway.cli import COMMAND_MODULES, REMOTE_MODULE, cli

#: What ``serve`` does not need at run time.
NOT_FOR_SERVE = (
    "weixin_gateway.simulator",
    "weixin_gateway.cli.demo",
    "weixin_gateway.cli.mp",
    "weixin_gateway.cli.remote",
    "weixin_gateway.cli.simulator",
    "weixin_gateway.mp.client",
    "weixin_gateway.mp.xml",
    "weixin_gateway.api.mp_app",
    "weixin_gateway.gateway.mp_gateway",
    "rich",
    "segno",
)
LAZY_PACKAGES = ("weixin_gateway.api", "weixin_gateway.gateway", "weixin_gateway.mp")


def _commands_of(module: ModuleType) -> dict[str, click.Command]:
    """The commands a module defines at top level, by name."""
    return {
        value.name: value
        for value in vars(module).values()
        if isinstance(value, click.Command) and value.name is not None
    }


def _defined_commands() -> dict[str, click.Command]:
    """Every command defined by a module of ``weixin_gateway.cli`` (imports them all)."""
    commands: dict[str, click.Command] = {}
    for info in pkgutil.iter_modules(cli_package.__path__, f"{cli_package.__name__}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        commands.update(_commands_of(importlib.import_module(info.name)))
    return commands


def test_the_lazy_table_names_every_command_the_modules_define() -> None:
    remote = importlib.import_module(f"weixin_gateway.cli.{REMOTE_MODULE}")
    remote_names = [command.name for command in remote.REMOTE_COMMANDS]
    assert len(remote_names) == len(set(remote_names)), "a remote command name is used twice"
    assert not set(remote_names) & set(COMMAND_MODULES), "a remote command shadows another"

    for name, (module_name, attribute) in COMMAND_MODULES.items():
        module = importlib.import_module(f"weixin_gateway.cli.{module_name}")
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        assert command.name == name

    lazy_names = {*COMMAND_MODULES, *remote_names}
    assert lazy_names == set(_defined_commands())
    assert cli.list_commands(click.Context(cli)) == sorted(lazy_names)


def test_get_command_returns_the_modules_command_objects() -> None:
    ctx = click.Context(cli)
    for name, command in _defined_commands().items():
        assert cli.get_command(ctx, name) is command
    assert cli.get_command(ctx, "no-such-command") is None


def test_resolving_serve_imports_none_of_the_other_commands() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import click
        from weixin_gateway.cli import cli
        command = cli.get_command(click.Context(cli), "serve")
        assert command is not None and command.name == "serve", command
        print(json.dumps([name for name in {NOT_FOR_SERVE!r} if name in sys.modules]))
        """
    )
    ran = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == []


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert names == sorted(_defined_commands())


def test_version_and_subcommand_help_still_work() -> None:
    runner = CliRunner()
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0
    assert version.output.strip() == f"weixin-gateway, version {__version__}"
    for name in ("serve", "mp", "simulator", "demo", "accounts", "inbox:complete-batch"):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
    unknown = runner.invoke(cli, ["no-such-command"])
    assert unknown.exit_code == 2
    assert "No such command 'no-such-command'" in unknown.output


def test_no_command_runs_serve() -> None:
    # serve reads its settings first: a bad PORT stops it before it binds anything.
    result = CliRunner().invoke(cli, [], env={"PORT": "abc"})
    assert result.exit_code == 2, result.output
    assert "PORT: must be between 1 and 65535, got 'abc'" in result.output


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_lazy_package_exports_resolve_to_their_definitions(package_name: str) -> None:
    package = importlib.import_module(package_name)
    exports: dict[str, str] = package._EXPORTS
    assert set(exports) == set(package.__all__)
    for name, module_name in exports.items():
        assert getattr(package, name) is getattr(importlib.import_module(module_name), name)
        assert name in dir(package)
    with pytest.raises(AttributeError):
        _ = package.no_such_name
