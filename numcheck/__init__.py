"""numcheck: self-hosted bulk phone-number verification with the hosted checkers' task API."""

__version__ = "0.1.0"
