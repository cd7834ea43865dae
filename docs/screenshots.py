"""Make the README's pictures of the back office from the demo data (`make screenshots`).

A throw-away SQLite database is migrated and seeded (`seed_demo`), the development server
runs on a free port, and Debian's chromium, driven by playwright, signs in as the demo's
quality engineer and photographs each page at 1,400 × 900 (the station page at 1,280 × 800)
into docs/images/. Nothing of the checkout's own database is touched.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env, *arguments) -> None:
    subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=env, check=True)


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def photograph(base_url: str) -> list[Path]:
    """Sign in as the demo quality engineer and photograph each page; returns the files."""
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(
            base_url=base_url, viewport={"width": 1400, "height": 900}
        ).new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", "quality")
        page.fill("#id_password", "quality-demo-1")
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")

        def shoot(name: str, full_page: bool = False) -> None:
            path = IMAGES / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            shots.append(path)

        shoot("dashboard", full_page=True)

        page.goto("/admin/integration/integrationmessage/?status__exact=CONFLICT")
        page.locator("#result_list tbody tr a").first.click()
        page.wait_for_selector("#conflict-diff")
        page.locator("#conflict-diff").scroll_into_view_if_needed()
        shoot("conflict")

        page.goto("/admin/execution/unit/?q=SN-DEMO-0012")
        page.locator("#result_list tbody tr a").first.click()
        page.wait_for_load_state()
        shoot("unit", full_page=True)

        page.goto("/admin/execution/dataspec/?q=Peak+Temperature")
        page.locator("#result_list tbody tr a").first.click()
        page.wait_for_selector("svg")
        page.locator("svg").first.scroll_into_view_if_needed()
        shoot("spc", full_page=True)

        # The same spec as an X̄-R chart of subgroups of 5 consecutive values.
        spec_url = page.url.split("#")[0].split("?")[0]
        page.goto(spec_url + "?chart=xbar-r&subgroup=5")
        page.wait_for_selector(".mes-chart svg")
        page.locator(".mes-chart svg").first.scroll_into_view_if_needed()
        shoot("xbar-r")

        page.goto("/admin/execution/dataspec/spc/")
        page.wait_for_selector("#needs-attention")
        shoot("spc-overview", full_page=True)

        # The fraction of the peak temperature's values judged FAIL, hour by hour.
        page.goto(spec_url.replace("/change/", "/p-chart/"))
        page.wait_for_selector("#attribute-chart, #attribute-chart-missing")
        shoot("p-chart", full_page=True)

        # The station page, at a 1280 × 800 terminal's size, as the demo's superuser, as
        # when the picture was taken (the demo operator, operator / operator-demo-1, signs
        # in there too); a unit in station at AOI-01.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.context.clear_cookies()
        page.goto("/station/login/?next=/station/AOI-01/%3Fsn%3DSN-DEMO-0001")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "admin-demo-1")
        page.click("#sign-in")
        page.wait_for_selector("#unit-sn")
        page.evaluate("window.scrollTo(0, 0)")  # the focused reading scrolled it
        shoot("station")
        browser.close()
    return shots


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DEBUG": "1",
            "SECRET_KEY": "screenshots-only",
            "DATABASE_URL": f"sqlite:///{folder}/demo.sqlite3",
        }
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_demo")
        port = free_port()
        server = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_for(f"{base_url}/healthz")
            for path in photograph(base_url):
                print(path.relative_to(ROOT))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
