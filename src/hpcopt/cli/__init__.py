"""The ``hpcopt`` command line: one Typer app, one module per capability."""

from __future__ import annotations

import sys

import typer

from hpcopt.errors import HpcoptError

app = typer.Typer(
    name="hpcopt",
    help="AI for the operation and optimization of parallel and HPC systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Each capability's CLI module adds its commands to ``app`` when imported; list it here so
# that ``hpcopt --help`` shows everything. Modules import heavy libraries lazily.
_COMMAND_MODULES: tuple[str, ...] = ("trace", "schedule", "detect", "tune", "estimate")


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"hpcopt.cli.{name}")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from hpcopt import __version__

        typer.echo(__version__)
        raise typer.Exit()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning hpcopt errors into one clear line and exit code 2."""
    _register()
    try:
        app(args=argv)  # standalone: usage errors print themselves and exit 2
    except HpcoptError as exc:
        from hpcopt.cli._common import err_console

        from rich.markup import escape

        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
