"""Help text as people read it in gh or the AWS CLI: each option's environment variable, a
placeholder only where an option takes a value (`--server URL`, not `--json <bool>`), arguments
by name (`TASK_ID`, not `{task_id}`), and examples under each command.

Typer 0.29 renders a type placeholder for every parameter, flags and --help included, and wraps
required arguments in braces in the usage line; `install()` replaces those three renderers of
its parameter classes (pinned in the lock files; tests/integration/test_cli_help.py holds them
to the output above)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from typer.core import TyperArgument, TyperOption


def examples(*lines: str) -> str:
    """An epilog of example command lines."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  $ {escape(line)}" for line in lines)


def _option_placeholder(self: TyperOption, ctx: Any) -> str | None:
    if self.metavar is not None:
        return self.metavar
    if self.is_flag or self.count:
        return None
    return self.bare_type().upper()


def _argument_placeholder(self: TyperArgument, ctx: Any) -> str | None:
    return None  # the argument's name is its placeholder


def _argument_usage(self: TyperArgument) -> str:
    name = (self.metavar or self.name or "").upper()
    if not self.required:
        name = f"[{name}]"
    return f"{name}..." if self.nargs != 1 else name


def install() -> None:
    # typer's renderers, replaced on purpose (see above)
    TyperOption.display_type_rich = _option_placeholder  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_placeholder  # type: ignore[method-assign,assignment]
    TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
