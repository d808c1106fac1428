"""Screenshots of the audit console and the risk dashboard for the README (docs/screenshots/).

    python scripts/audit_screenshots.py --base http://127.0.0.1:8000 [--out docs/screenshots]

Needs a running site with demo data (`setup_demo`, `seed_audit_demo`) and Chromium at
/usr/bin/chromium (CHROMIUM_PATH). Logs in as the demo risk operator through the admin's login form.
"""

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--email", default="risk@demo.example.com")
    parser.add_argument("--password", default="demo-risk-310")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), headless=True,
            args=ARGS, viewport={"width": 1280, "height": 900})
        # The admin's navigation sidebar collapsed, so the tables get the width.
        browser.add_init_script("window.localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        page = browser.new_page()
        page.goto(f"{args.base}/admin/login/")
        page.fill("#id_username", args.email)
        page.fill("#id_password", args.password)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/$"))
        page.screenshot(path=str(out / "admin-index-desktop.png"), full_page=True)

        page.goto(f"{args.base}/admin/underwriting/decision/")
        page.screenshot(path=str(out / "admin-decisions-desktop.png"), full_page=False)
        link = page.locator("#result_list tbody tr td a").first
        href = None
        # a model-decided decision (one with a waterfall) that has reviews, if any
        page.goto(f"{args.base}/admin/underwriting/decision/?decided_by__exact=model&reviewed=yes")
        if page.locator("#result_list tbody tr td a").count():
            href = page.locator("#result_list tbody tr td a").first.get_attribute("href")
        else:
            page.goto(f"{args.base}/admin/underwriting/decision/?decided_by__exact=model")
            href = link.get_attribute("href") if page.locator("#result_list tbody tr td a").count() else None
        if href:
            page.goto(f"{args.base}{href}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "admin-decision-desktop.png"), full_page=False)
            page.locator("#explanation").screenshot(path=str(out / "admin-decision-waterfall-desktop.png"))
            page.locator("#features").screenshot(path=str(out / "admin-decision-features-desktop.png"))

        page.goto(f"{args.base}/admin/underwriting/decision/review-queue/")
        page.screenshot(path=str(out / "admin-review-queue-desktop.png"), full_page=False)

        page.goto(f"{args.base}/admin/underwriting/modelversion/")
        model = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
        if model.count():
            page.goto(f"{args.base}{model.get_attribute('href')}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "admin-model-desktop.png"), full_page=True)

        page.goto(f"{args.base}/risk/dashboard/?range=30d&book=imported")
        page.screenshot(path=str(out / "risk-dashboard-desktop.png"), full_page=True)
        browser.close()
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
