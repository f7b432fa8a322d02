"""The `numcheck` command."""

from numcheck.cli.main import app, main

__all__ = ["app", "main"]
