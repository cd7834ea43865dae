"""A broker consumer (`consume_mqtt`, `consume_cfx`) as a subprocess against the test
database, its log read by the tests: started, signalled, stopped."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection

from tests.postgres import url_of_database


class ConsumerProcess:
    """`manage.py <arguments>` with `env`, logging to `log_path`; waits for `ready` in the
    log when given."""

    def __init__(self, arguments: list[str], env: dict, log_path, ready: str | None):
        self.log_path = log_path
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))
        }
        environment.update(
            DATABASE_URL=url_of_database(connection.settings_dict["NAME"]),
            SECRET_KEY="a-test-key-for-manage-commands",
            LOG_FORMAT="console",
            **env,
        )
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *arguments],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if ready:
            self.wait_for_log(ready, 1)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if output.count(text) >= count:
                return output
            assert self.process.poll() is None, output
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the consumer's log:\n{self.output()}")

    def stats_line(self) -> str:
        """The counts line the consumer logs on SIGUSR1."""
        before = self.output().count("received ")
        self.process.send_signal(signal.SIGUSR1)
        output = self.wait_for_log("received ", before + 1)
        return [line for line in output.splitlines() if "received " in line][-1]

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.log.close()
        return self.process.returncode
