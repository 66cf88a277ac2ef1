"""The ``hpcopt`` command line: one Typer app, one module per capability.

Exit codes (stable, documented in ``hpcopt --help``):

* 0: success;
* 1: the work itself failed (an :class:`~hpcopt.errors.HpcoptError` that is neither bad
  input nor bad usage);
* 2: bad input data (:class:`~hpcopt.errors.InputError`: a file, line or field is wrong);
* 3: an optional dependency is missing (the message names the extra to install);
* 64: bad usage (an unknown option or value, a missing argument, an output that would
  overwrite something: click's usage errors and :class:`~hpcopt.errors.ConfigError`);
* 130: interrupted (Ctrl-C).

With ``--json`` anywhere on the command line an error is printed on stdout as one JSON
object ``{"error": {...}}`` (see :func:`hpcopt.cli._common.error_payload`) instead of a
line on stderr.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.2x vendors click under typer._click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as _cx

from hpcopt.errors import ConfigError, HpcoptError, InputError, MissingDependencyError

EXIT_FAILURE = 1
EXIT_DATA = 2
EXIT_DEPENDENCY = 3
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="hpcopt",
    help="AI for the operation and optimization of parallel and HPC systems. "
    "Exit codes: 0 ok, 1 failure, 2 bad input data, 3 missing optional dependency, 64 bad usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Each capability's CLI module adds its commands to ``app`` when imported; list it here so
# that ``hpcopt --help`` shows everything. Modules import heavy libraries lazily.
_COMMAND_MODULES: tuple[str, ...] = ("demo", "trace", "schedule", "estimate", "detect", "tune", "store", "tasks",
                                     "serve", "mcp")


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"hpcopt.cli.{name}")


def _print_version(value: bool) -> None:
    if not value:
        return
    from hpcopt import __version__

    typer.echo(f"hpcopt {__version__}")
    raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """AI for the operation and optimization of parallel and HPC systems."""


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, InputError):
        return EXIT_DATA
    if isinstance(exc, MissingDependencyError):
        return EXIT_DEPENDENCY
    if isinstance(exc, (ConfigError, _cx.UsageError)):
        return EXIT_USAGE
    return EXIT_FAILURE


def _report(exc: BaseException, code: int, as_json: bool) -> None:
    from hpcopt.cli._common import err_console, error_payload, print_json

    if as_json:
        print_json(error_payload(exc, code))
        return
    from rich.markup import escape

    if isinstance(exc, _cx.UsageError):
        # click's own rendering: usage line, hint and the message, on stderr
        exc.show()
        return
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every expected error into one message and its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    _register()
    try:
        rv = app(args=args, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(EXIT_INTERRUPTED)
    except _cx.NoArgsIsHelpError as exc:  # 'hpcopt' or a group without a command: its help
        exc.show()
        sys.exit(0)
    except (HpcoptError, _cx.UsageError) as exc:
        code = _exit_code(exc)
        _report(exc, code, as_json)
        sys.exit(code)
    except _cx.ClickException as exc:  # e.g. a file click could not open
        _report(exc, EXIT_USAGE, as_json)
        sys.exit(EXIT_USAGE)
    sys.exit(rv if isinstance(rv, int) else 0)
