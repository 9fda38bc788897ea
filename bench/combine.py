"""Combine the JSON results of several benchmark runs: `python -m bench.combine FILE...`.

Each figure is the median over every round of every run, and the errors are summed. The
machine is shared, so single runs swing widely. Several runs at different times give a
steadier median than more rounds in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.report import render
from bench.routes import build_routes
from bench.run import median_record

# Ids only fill the route table's templates; the names and ceilings do not depend on them.
_PLACEHOLDER_SUMMARY = {
    "heaviest_guild": {"id": 1},
    "typical_guild": {"id": 2},
    "heaviest_user": {"id": 3},
    "typical_user": {"id": 4},
    "typical_session": {"id": "session"},
    "track_play_ids": ["play"],
}


def combine(paths: list[Path]) -> str:
    """Return the report of the runs in `paths`, with load averages from each of them."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    records: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        for point in run["points"]:
            key = (point["kind"], point["name"], point["concurrency"])
            records.setdefault(key, []).extend(point["rounds"])

    medians = {key: median_record(values) for key, values in records.items()}
    concurrencies = tuple(sorted({concurrency for _, _, concurrency in records}))
    routes = [(route.name, route.bare) for route in build_routes(_PLACEHOLDER_SUMMARY)]
    machine = dict(runs[0]["machine"])
    machine["load_average_at_start"] = [run["machine"]["load_average_at_start"] for run in runs]
    machine["load_average_at_end"] = [run["machine"].get("load_average_at_end") for run in runs]
    rounds = sum(run["options"]["rounds"] for run in runs)
    return render(medians, routes, concurrencies, machine, runs[0]["archive"], rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.combine", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="bench-*.json files of bench runs")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        print(f"error: no such result file: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(combine(args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
