"""The table `make bench` (bench/ingest.py) prints at its end, from whatever its sections
measured: a section that was skipped or failed leaves its rows out (and its ratios read
"n/a"), and the summary of sections below the table says why.
"""

from bench import cfx as bench_cfx
from bench import mqtt as bench_mqtt
from bench.harness import VALUES_PER_EVENT
from bench.sections import DONE


def ratio(ours, baseline) -> str:
    return f"{ours / baseline:.0%}" if baseline else "n/a"


def drift(figure: dict) -> str:
    return (
        f"  (before {figure['events_per_second_before']:.0f}, "
        f"after {figure['events_per_second_after']:.0f})"
    )


def _row(label: str, run: dict, share: str = "") -> str:
    return (
        f"{label:<44} {run['events_per_second']:>10.1f} {run['p50_ms']!s:>8} "
        f"{run['p95_ms']!s:>8} {run['p99_ms']!s:>8} {share:>11}"
    )


def _done(results: dict, section: str) -> bool:
    return results.get("sections", {}).get(section, {}).get("state") == DONE


def report(results: dict) -> str:
    lines = []
    out = lines.append
    setup = results["setup"]
    out(
        f"Ingestion benchmark — {setup['cpu_count']} cores, "
        f"PostgreSQL {setup.get('postgresql', '?')}, "
        f"gunicorn {setup['workers']} workers × {setup['threads']} threads, "
        f"{VALUES_PER_EVENT} values per event, {setup.get('units', '?')} units, "
        f"{setup['duration']} s per figure"
    )
    out("")
    out(
        f"{'figure':<44} {'events/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'÷ baseline':>11}"
    )
    baseline = results.get("baseline", {})
    copies = baseline.get("copy", {})
    base_single = baseline.get("single", {}).get("events_per_second")
    single = results.get("single", [])
    for run in single:
        out(
            _row(
                f"single POST, concurrency {run['concurrency']}",
                run,
                ratio(run["events_per_second"], base_single),
            )
        )
    half = results.get("half_load")
    if half:
        out(_row("single POST at half the best rate (open loop)", half))
    batches = results.get("batch", [])
    for run in batches:
        base = copies.get(str(run["batch_size"]), {}).get("events_per_second")
        label = f"batch POST of {run['batch_size']}, concurrency {run['concurrency']}"
        out(_row(label, run, ratio(run["events_per_second"], base)))
    storm = results.get("storm")
    if storm:
        out(
            f"{'duplicate storm, ' + str(storm['posts']) + ' posts of one eventId':<44} "
            f"{storm['duplicates_per_second']:>10.1f}   duplicates/s; records afterwards: "
            f"{storm['records_afterwards']}, 5xx: {storm['server_errors']}"
        )
    if baseline.get("single") or copies:
        out("")
        out(
            "baseline (psycopg, same database, no web stack; mean of the runs before and after "
            "ours)"
        )
    if baseline.get("single"):
        figure = baseline["single"]
        out(
            f"{'one transaction per event, ' + str(figure['processes']) + ' processes':<44} "
            f"{figure['events_per_second']:>10.1f} {figure['p50_ms']!s:>8} {'':>8} "
            f"{figure['p99_ms']!s:>8}{'':>12}{drift(figure)}"
        )
    for size, copy in copies.items():
        out(
            f"{'COPY batches of ' + size + ', ' + str(copy['processes']) + ' processes':<44} "
            f"{copy['events_per_second']:>10.1f}{'':>39}{drift(copy)}"
        )
    if single:
        best = max(single, key=lambda run: run["events_per_second"])
        out("")
        out(
            f"best single: {best['events_per_second']:.0f} events/s at concurrency "
            f"{best['concurrency']} = {ratio(best['events_per_second'], base_single)} of the "
            f"baseline (target ≥ 25%); p99 at half load {half['p99_ms'] if half else 'n/a'} ms "
            "(target < 50 ms)"
        )
    if batches:
        best_batch = max(batches, key=lambda run: run["events_per_second"])
        base = copies.get(str(best_batch["batch_size"]), {}).get("events_per_second")
        out(
            f"best batch: {best_batch['events_per_second']:.0f} events/s (batches of "
            f"{best_batch['batch_size']}) = {ratio(best_batch['events_per_second'], base)} of "
            "COPY (target ≥ 50%)"
        )
    if _done(results, "MQTT"):
        lines += bench_mqtt.report_lines(results["mqtt"], copies)
    if _done(results, "CFX"):
        lines += bench_cfx.report_lines(results["cfx"], copies)
    lines += cpu_lines(results)
    observed = results.get("observability")
    if observed:
        out(
            f"metrics and JSON logs: {observed['on_events_per_second']:.0f} events/s on, "
            f"{observed['off_events_per_second']:.0f} off (single posts, concurrency 8, "
            f"two rounds each) = {observed['ratio']:.1%} (target ≥ 97%); "
            f"{observed['log_lines_written']} log lines"
        )
    out(
        "Throttle raised for the run (GATEWAY_THROTTLE_RATE=100000000/min); "
        f"{setup['gateways']} gateway keys, one per client process in turn."
    )
    return "\n".join(lines)


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def cpu_lines(results: dict) -> list[str]:
    """CPU milliseconds per event of each path (the MES's processes and PostgreSQL's),
    beside the raw baseline's (its clients and PostgreSQL) measured in the same run."""
    baseline = results.get("baseline", {})
    copies = baseline.get("copy", {})
    copy_100 = copies.get("100", {}).get("cpu")
    paths = [
        (f"single POST, concurrency {run['concurrency']}", run.get("cpu"),
         baseline.get("single", {}).get("cpu"), "one transaction per event")
        for run in results.get("single", [])
    ] + [
        (f"batch POST of {run['batch_size']}", run.get("cpu"),
         copies.get(str(run["batch_size"]), {}).get("cpu"), f"COPY of {run['batch_size']}")
        for run in results.get("batch", [])
    ]  # fmt: skip
    if _done(results, "MQTT"):
        drain = results["mqtt"].get("drain", {})
        paths.append(("MQTT drain (two consumers)", drain.get("cpu"), copy_100, "COPY of 100"))
    if _done(results, "CFX"):
        cpu = results["cfx"].get("cpu")
        paths.append(("CFX unit results (two consumers)", cpu, copy_100, "COPY of 100"))
    paths = [path for path in paths if path[1]]
    if not paths:
        return []
    lines = [
        "",
        "CPU per event, ms (/proc: the MES's processes, PostgreSQL's; the baseline's clients "
        "and PostgreSQL's)",
        f"{'path':<36} {'MES':>7} {'PG':>7} {'total':>7}   {'baseline':<26} {'total':>7} {'÷':>6}",
    ]
    for label, ours, base, base_label in paths:
        base_total = (base or {}).get("total_ms")
        lines.append(
            f"{label:<36} {_ms(ours['mes_ms']):>7} {_ms(ours['postgres_ms']):>7} "
            f"{_ms(ours['total_ms']):>7}   {base_label:<26} {_ms(base_total):>7} "
            f"{ratio(ours['total_ms'], base_total) if ours['total_ms'] else 'n/a':>6}"
        )
    return lines
