"""``wattguard analyse``: run the station's analytics job on a station database and report
(text, and with ``--html`` a self-contained page with plots)."""

from __future__ import annotations

import argparse
import sys

from wattguard.cli._common import Commands, positive

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``analyse`` command."""
    parser = commands.add_parser(
        "analyse", help="run the analytics on a station database and report (--html: plots)"
    )
    parser.add_argument("--database", required=True, help="sqlite:///station.db, postgresql://...")
    parser.add_argument("--district", default=None, help="report this district (terminal) only")
    parser.add_argument(
        "--days", type=positive, default=None, help="start at most this many days back"
    )
    parser.add_argument("--html", default=None, metavar="FILE", help="write the report here")
    parser.add_argument("--top", type=int, default=10, help="length of the top-N lists (10)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Take in every complete day of the database, then report."""
    from wattguard.cli._report import report
    from wattguard.errors import ConfigError
    from wattguard.station.analysis import DAY, AnalysisJob
    from wattguard.station.analysis_views import district_view, fleet_view, meter_view
    from wattguard.station.balance import CURVE_ENERGY
    from wattguard.station.storage import open_storage

    storage = open_storage(args.database)
    try:
        job = AnalysisJob(storage)
        districts = job.districts()
        if args.district is not None and args.district.lower() not in districts:
            raise ConfigError(f"no district {args.district} in {args.database}")
        meters = [m for supply, customers in districts.values() for m in [*customers, supply]]
        latest = job.store.latest_time([m for m in meters if m is not None], CURVE_ENERGY)
        if latest is None:
            print("no 15-minute curves in this database: nothing to analyse")
            return 1
        first_day = None
        if args.days is not None:
            first_day = (latest // DAY - int(args.days)) * DAY
        tty = sys.stdout.isatty()

        def progress(done: int, total: int) -> None:
            if tty or done == total or done % 50 == 0:
                end = "" if tty and done < total else "\n"
                print(f"\r  analysed {done}/{total} district-days", end=end, flush=True)

        done = job.run(latest + job.grace, first_day=first_day, progress=progress)
        print(f"{done} new district-day(s) analysed")
        chosen = [args.district.lower()] if args.district else sorted(job.store.districts())
        views = [v for v in (district_view(job, d) for d in chosen) if v is not None]
        fleet = fleet_view(job, args.top)
        for view in views:
            rates = [r["rate"] for r in view["loss"] if r["rate"] is not None]
            mean = f"{sum(rates) / len(rates):.2%}" if rates else "-"
            first = view["suspects"][0] if view["suspects"] else None
            suspect = "" if first is None or first["estimated_error"] is None else (
                f"; most suspect meter {first['meter']} ({first['estimated_error']:+.1%})"
            )  # fmt: skip
            print(f"district {view['district']}: mean line loss {mean}{suspect}")
        if args.html is not None:
            named = [v["suspects"][0]["meter"] for v in views if v["suspects"]]
            pages = [p for p in (meter_view(job, m) for m in named) if p is not None]
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(report(fleet, views, pages))
            print(f"report written to {args.html}")
        return 0
    finally:
        storage.close()
