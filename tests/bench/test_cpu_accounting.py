"""The CPU `make bench` counts per event (bench/cpu.py), read from the kernel's accounting:
a process that burned CPU is counted whether it is alive at the end or ended and was
waited for, and PostgreSQL's backends are found from a connection."""

import subprocess
import sys
import time

from bench.cpu import CpuMeter, postmaster_of, tree_cpu
from tests.postgres import needs_postgresql, url_of_database

SPIN_A_MINUTE = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass\n"
BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def burn(then: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BURN + then])


def test_a_child_that_ended_and_was_waited_for_counts_as_its_parents():
    with CpuMeter(postmaster=1, mes_roots=[]) as meter:  # this process's waited-for children
        burn().wait()
    assert 0.3 < meter.mes < 2, meter.mes


def test_a_live_process_tree_counts_each_descendant():
    child = burn("time.sleep(30)")  # burns, then stays alive
    try:
        deadline = time.monotonic() + 10
        while tree_cpu([child.pid]) < 0.35 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.35 <= tree_cpu([child.pid]) < 2
    finally:
        child.kill()
        child.wait()


@needs_postgresql("PostgreSQL's backends are found from a connection")
def test_postgresql_work_is_counted_in_the_postmasters_tree():
    import psycopg

    url = url_of_database("postgres")
    postmaster = postmaster_of(url)
    with CpuMeter(postmaster, mes_roots=[]) as meter, psycopg.connect(url) as connection:
        connection.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
    assert meter.postgres > 0.05, meter.postgres


@needs_postgresql("PostgreSQL's backends are found from a connection")
def test_the_postmaster_is_found_on_a_busy_machine_where_a_closed_backend_is_reaped_at_once():
    # CI failed once on "PostgreSQL runs out of this machine's sight": the backend's
    # /proc entry was read after its connection closed, and on a loaded machine the
    # postmaster had already reaped it (half of 500 tries here with three CPU burners).
    url = url_of_database("postgres")
    # Each stops by itself after 60 s, should this test be killed before it kills them.
    burners = [subprocess.Popen([sys.executable, "-c", SPIN_A_MINUTE]) for _ in range(3)]
    try:
        found = {postmaster_of(url) for _ in range(150)}
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert len(found) == 1, found
