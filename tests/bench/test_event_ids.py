"""The eventIds the benchmarks make are unique by construction (bench/ids.py): a run id and
counters, no random part. Issue 27: the COPY baseline's ids were
`copy-{worker}-{index}-{6 random hex}`, the same worker and index recurred in every
baseline run of one database, and the 24 random bits collided (a UniqueViolation that
ended `make bench`)."""

import multiprocessing
import os
import re
import subprocess
import sys

import psycopg

from bench import ids
from bench.baseline import baseline_batch, baseline_single
from bench.harness import seed
from tests.postgres import database_of_its_own, needs_postgresql


def test_each_measured_piece_of_a_run_has_a_part_of_its_own():
    parts = [ids.new_part("copy") for _ in range(3)] + [ids.new_part("base")]

    assert len(set(parts)) == 4
    assert all(f"-{ids.run_id()}-" in part for part in parts)
    # No random part: the same piece, worker and counter give the same id.
    assert ids.event_id(parts[0], 1, 7) == ids.event_id(parts[0], 1, 7) == f"{parts[0]}-1-7"


def test_two_runs_of_the_bench_have_different_run_ids():
    def run_id_of_a_new_process() -> str:
        return subprocess.run(
            [sys.executable, "-c", "from bench import ids; print(ids.run_id())"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    seen = {ids.run_id(), run_id_of_a_new_process(), run_id_of_a_new_process()}

    assert len(seen) == 3
    assert all(re.fullmatch(r"[0-9a-f]+p[0-9]+", run) for run in seen)


def _part_in_child(_):
    return ids.new_part("copy"), os.getpid()


def test_a_forked_worker_that_makes_parts_does_not_repeat_its_parents():
    parent = ids.new_part("copy")

    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(_part_in_child, range(4))

    parts = [parent] + [part for part, _ in children]
    assert len(children) == 4
    assert len(set(parts)) == len(parts)
    for part, pid in children:
        assert f"p{pid}-" in part


@needs_postgresql("the baselines write with psycopg and COPY into a database of their own")
def test_the_baselines_run_twice_into_one_database_write_ids_that_never_meet(tmp_path):
    with database_of_its_own("mes_bench_ids") as (_, url):
        seed(url, 1, 40, 1)

        runs = [
            baseline_batch(url, 2, 0.5, 50),
            baseline_batch(url, 2, 0.5, 50),
            baseline_single(url, 2, 0.3),
            baseline_single(url, 2, 0.3),
        ]

        with psycopg.connect(url) as connection:
            event_ids = [
                event_id
                for (event_id,) in connection.execute(
                    "SELECT event_id FROM integration_devicedatarecord"
                )
            ]
    assert all(run["events"] > 0 for run in runs)
    assert len(event_ids) == sum(run["events"] for run in runs)
    # Each run wrote under a part of its own: the worker and counter may repeat, the part not.
    parts = {re.sub(r"-\d+-\d+$", "", event_id) for event_id in event_ids}
    assert len(parts) == 4
    assert {part.split("-")[0] for part in parts} == {"copy", "base"}
    assert all(f"-{ids.run_id()}-" in part for part in parts)
