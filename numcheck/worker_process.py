"""The process `numcheck worker` becomes once its checks pass: `python -m
numcheck.worker_process`, exec'd in its place (the same process id, signals and output).

Every Celery child is forked from this process and keeps the pages it had; so it imports only
what running jobs needs. Left in `numcheck worker`'s own process: the command line's modules
(Typer, Rich, Click) and Alembic, which cost each child about a fifth of its memory at rest.
"""

from __future__ import annotations

import sys


def command() -> list[str]:
    """What `numcheck worker` execs."""
    return [sys.executable, "-m", __name__]


def main() -> None:
    from numcheck.telemetry import multiprocess

    multiprocess.prepare()  # first: prometheus-client reads its directory when imported
    from numcheck.celery_worker import run
    from numcheck.config import Settings
    from numcheck.logs import configure_logging

    # From the environment, as `numcheck worker` read (and validated) them before handing over.
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    run(settings)


if __name__ == "__main__":
    main()
