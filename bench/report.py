"""Tables and goal checks of a benchmark run, as Markdown for the terminal and docs/."""

from __future__ import annotations

from typing import Any

# Goals for the 2-core development machine.
MAX_HEAVY_TO_TYPICAL = 2.0
MAX_P99_MS_AT_16 = 25.0
MIN_RECENTS_SHARE_OF_DRIVER = 0.5
RECENTS_ROUTES = (
    "guild recents, heaviest",
    "guild recents, typical",
    "user recents, heaviest",
    "user recents, typical",
)

Medians = dict[tuple[str, str, int], dict[str, Any]]


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return numerator / denominator


def service_table(
    medians: Medians, routes: list[tuple[str, str]], concurrencies: tuple[int, ...]
) -> str:
    """Return the service's figures per route and concurrency, with both ceiling ratios."""
    lines = [
        "| route | c | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req "
        "| ÷ bare | ÷ driver |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, bare in routes:
        for concurrency in concurrencies:
            point = medians.get(("service", name, concurrency))
            if point is None:
                continue
            bare_point = medians.get(("bare", bare, concurrency), {})
            driver_point = medians.get(("driver", name, concurrency), {})
            rps = point["requests_per_second"]
            bare_ratio = _ratio(rps, bare_point.get("requests_per_second"))
            driver_ratio = _ratio(rps, driver_point.get("requests_per_second"))
            lines.append(
                f"| {name} | {concurrency} | {_number(rps)} | {_number(point['p50_ms'], 2)} | "
                f"{_number(point['p95_ms'], 2)} | {_number(point['p99_ms'], 2)} | "
                f"{point['errors']} | {_number(point['cpu_ms_per_request'], 3)} | "
                f"{_number(bare_ratio, 2)} ({bare}) | {_number(driver_ratio, 2)} |"
            )
    return "\n".join(lines)


def ceiling_table(medians: Medians, concurrencies: tuple[int, ...]) -> str:
    """Return the bare and driver ceilings per concurrency."""
    lines = [
        "| ceiling | c | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = sorted({(kind, name) for kind, name, _ in medians if kind in ("bare", "driver")})
    for kind, name in names:
        for concurrency in concurrencies:
            point = medians.get((kind, name, concurrency))
            if point is None:
                continue
            lines.append(
                f"| {kind}: {name} | {concurrency} | {_number(point['requests_per_second'])} | "
                f"{_number(point['p50_ms'], 2)} | {_number(point['p95_ms'], 2)} | "
                f"{_number(point['p99_ms'], 2)} | {point['errors']} | "
                f"{_number(point['cpu_ms_per_request'], 3)} |"
            )
    return "\n".join(lines)


def goal_checks(medians: Medians, concurrencies: tuple[int, ...]) -> list[tuple[str, bool, str]]:
    """Return each goal as (goal, met, the figures behind it)."""
    checks: list[tuple[str, bool, str]] = []

    for owner in ("guild", "user"):
        heavy_name, typical_name = f"{owner} recents, heaviest", f"{owner} recents, typical"
        figures = []
        met = True
        for concurrency in concurrencies:
            heavy = medians.get(("service", heavy_name, concurrency))
            typical = medians.get(("service", typical_name, concurrency))
            if heavy is None or typical is None:
                continue
            throughput = _ratio(typical["requests_per_second"], heavy["requests_per_second"])
            latency = _ratio(heavy["p50_ms"], typical["p50_ms"])
            met &= throughput is not None and throughput <= MAX_HEAVY_TO_TYPICAL
            met &= latency is not None and latency <= MAX_HEAVY_TO_TYPICAL
            figures.append(
                f"c={concurrency}: typical/heaviest req/s {_number(throughput, 2)}, "
                f"heaviest/typical p50 {_number(latency, 2)}"
            )
        if figures:
            checks.append(
                (f"{owner} recents: heaviest within 2x of typical", met, "; ".join(figures))
            )

    over = []
    measured_16 = False
    for (kind, name, concurrency), point in sorted(medians.items()):
        if kind != "service" or concurrency != 16:
            continue
        measured_16 = True
        if point["p99_ms"] is None or point["p99_ms"] >= MAX_P99_MS_AT_16:
            over.append(f"{name} {_number(point['p99_ms'], 1)} ms")
    if measured_16:
        checks.append(
            (
                f"p99 under {MAX_P99_MS_AT_16:.0f} ms at concurrency 16",
                not over,
                "over: " + ", ".join(over) if over else "every route",
            )
        )

    shares = []
    met = True
    for name in RECENTS_ROUTES:
        for concurrency in concurrencies:
            service = medians.get(("service", name, concurrency))
            driver = medians.get(("driver", name, concurrency))
            if service is None or driver is None:
                continue
            share = _ratio(service["requests_per_second"], driver["requests_per_second"])
            met &= share is not None and share >= MIN_RECENTS_SHARE_OF_DRIVER
            shares.append(f"{name} c={concurrency} {_number(share, 2)}")
    if shares:
        checks.append(("recents at least 50% of the driver ceiling", met, "; ".join(shares)))
    return checks


def render(
    medians: Medians,
    routes: list[tuple[str, str]],
    concurrencies: tuple[int, ...],
    machine: dict[str, Any],
    archive: dict[str, Any],
    rounds: int,
) -> str:
    goals = goal_checks(medians, concurrencies)
    heaviest_guild = archive["heaviest_guild"]["plays"]
    typical_guild = archive["typical_guild"]["plays"]
    heaviest_user = archive["heaviest_user"]["plays"]
    typical_user = archive["typical_user"]["plays"]
    goal_lines = [
        f"- {'met' if met else 'MISSED'}: {goal} ({figures})" for goal, met, figures in goals
    ]
    return "\n\n".join(
        [
            f"Machine: {machine['cpu_model']}, {machine['cores']} cores, "
            f"{machine['memory_gib']} GiB, {machine['database_server']} "
            f"(buffer pool {machine['innodb_buffer_pool_mib']} MiB), Python {machine['python']}; "
            f"load average at start {machine['load_average_at_start']}, "
            f"at end {machine.get('load_average_at_end')}.",
            f"Archive: {archive['track_plays']} plays, {archive['listening_sessions']} sessions, "
            f"{archive['listeners']} listeners. Heaviest guild {heaviest_guild} plays, "
            f"typical guild {typical_guild}. Heaviest user {heaviest_user} plays, "
            f"typical user {typical_user}. Medians of {rounds} rounds.",
            "Service:\n\n" + service_table(medians, routes, concurrencies),
            "Ceilings:\n\n" + ceiling_table(medians, concurrencies),
            "Goals:\n\n" + "\n".join(goal_lines),
        ]
    )
