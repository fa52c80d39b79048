"""Command groups: ``pyros GROUP`` without a sub-command shows the group's help and exits 0."""

from __future__ import annotations

import typer


def show_help_without_subcommand(context: typer.Context) -> None:
    """Group callback: without a sub-command, print the group's help and exit 0.

    Typer's ``no_args_is_help`` raises a usage error after printing the help (exit 2, and an
    exception the caller must recognise); a group called bare is asking for its help.
    """
    if context.invoked_subcommand is None:
        text = context.get_help()  # rich prints the help itself and returns ""
        if text:
            typer.echo(text)
        raise typer.Exit(0)


def command_group(help_text: str) -> typer.Typer:
    """A Typer group of sub-commands that shows its help when called without one."""
    return typer.Typer(
        help=help_text,
        invoke_without_command=True,
        callback=show_help_without_subcommand,
        rich_markup_mode=None,  # help texts name site-file sections ([nrt]): not markup
    )
