"""Generate docs/cli.md from the commands' own --help, so the reference cannot rot.

PYTHONPATH=tests .venv/bin/python -m support.clidoc > docs/cli.md
"""

from __future__ import annotations

import click

from escalade.cli import main

HEADER = """# Command line reference

Generated from `escalade --help` by `make docs`; a test fails when it is stale.
Every command that talks to a server reads `ESCALADE_URL` and `ESCALADE_TOKEN`.
"""


def walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += walk(command.commands[name], [*path, name])
    return found


def render() -> str:
    parts = [HEADER]
    for path, command in walk(main, ["escalade"]):
        ctx = click.Context(
            command, info_name=" ".join(path), terminal_width=100, max_content_width=100
        )
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
