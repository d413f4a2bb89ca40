"""`manage.py monitor`: the port monitor worker. Nothing starts it but an operator."""

import logging

from django.conf import settings
from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError

from monitoring.worker import Worker
from panel.commands import PanelCommand, one_line


class Command(PanelCommand):
    help = (
        "Check every assigned allocation each PANEL_MONITOR_INTERVAL seconds (a TCP connection "
        "to its ip:port) until SIGTERM or SIGINT; --once makes one pass over what is due. "
        "Any number of workers may run at once, on any machine sharing the database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="One pass over whatever is due, then exit."
        )

    def run(self, **options):
        level = logging.DEBUG if options["verbosity"] >= 3 else logging.INFO
        if options["verbosity"] >= 2:
            logging.getLogger("monitoring").setLevel(level)
        worker = Worker(
            interval=settings.PANEL_MONITOR_INTERVAL,
            concurrency=settings.PANEL_MONITOR_CONCURRENCY,
            timeout=settings.PANEL_PORT_TEST_TIMEOUT,
            retention_days=settings.PANEL_MONITOR_RETENTION_DAYS,
        )
        with worker.stopped_by_signals():
            if not options["once"]:
                totals = worker.run_forever()
            else:
                try:
                    totals = worker.run_once()
                except (OperationalError, InterfaceError) as exc:
                    raise CommandError(one_line(f"The database is unavailable: {exc}")) from exc
        data = totals.as_dict()
        text = (
            f"Checked {data['checked']:,} allocation{'s' if data['checked'] != 1 else ''} in "
            f"{data['passes']:,} pass{'es' if data['passes'] != 1 else ''}; pruned "
            f"{data['pruned']:,} old result{'s' if data['pruned'] != 1 else ''}."
        )
        return data, text
