"""What the browser tests do on every page: an axe-core scan at desktop and phone width, a check that
nothing is wider than the phone, optional screenshots, and the interaction count."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}

BLOCKING_IMPACTS = {"serious", "critical"}
DECISION_HEADING = re.compile(r"Approved|Counter-offer|Declined")


def axe_violations(page: Page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now (WCAG 2.x A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))
            }));
        }"""
    )
    return [v for v in results if v["impact"] in BLOCKING_IMPACTS]


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    at {n['target']}: {n['summary']}" for n in v["nodes"][:5])
    return "\n".join(lines)


def check_page(page: Page, name: str, screenshots: Path | None = None) -> None:
    """Scans the page at desktop width and at 375 px (restoring the page's own viewport after), checks
    that nothing overflows the phone's width, and saves `<name>-desktop.png` / `<name>-mobile.png`
    when a screenshot folder is given."""
    page.wait_for_load_state("load")
    original = page.viewport_size
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page.set_viewport_size(viewport)
        if screenshots is not None:
            page.screenshot(path=str(screenshots / f"{name}-{label}.png"), full_page=True, animations="disabled")
        violations = axe_violations(page)
        assert not violations, f"{name} page at {label} width ({page.url}):\n{_describe(violations)}"
        if label == "mobile":
            overflow = page.evaluate("() => document.documentElement.scrollWidth")
            assert overflow <= MOBILE["width"], f"{name} page is {overflow} px wide on a 375 px phone ({page.url})"
    page.set_viewport_size(original)


def interactions(page: Page) -> list[str]:
    """Clicks and submissions counted by the page's own listener since the tab opened."""
    return json.loads(page.evaluate("() => sessionStorage.getItem('__interactions') || '[]'"))


def reset_interactions(page: Page) -> None:
    page.evaluate("() => sessionStorage.removeItem('__interactions')")


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def wait_for_decision(page: Page, timeout: float = 30_000) -> str:
    """Waits on the progress page, without reloading it, until the decision's heading shows; returns it."""
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(DECISION_HEADING, timeout=timeout)
    return heading.inner_text()


def mark_document(page: Page) -> None:
    """Tags the current document; `same_document` is then false if the page was reloaded or left."""
    page.evaluate("() => { window.__sameDocument = true; }")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("() => window.__sameDocument === true"))
