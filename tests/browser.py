"""Headless Chromium for page tests: launch, accessibility (axe-core), screenshots.

Playwright for Python drives Debian's Chromium (never a downloaded browser).
axe-core comes from the npm registry, pinned, installed by `make test` under
.venv/npm. Missing pieces skip the tests with the reason, unless
REQUIRE_BROWSER=1 (set by .ci/run) makes them failures.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE_JS = Path(os.environ.get("AXE_JS", ROOT / ".venv/npm/node_modules/axe-core/axe.min.js"))
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var/screenshots"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def _chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium")


def unavailable(need_axe: bool = False) -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if _chromium_path() is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    if need_axe and not AXE_JS.exists():
        return f"axe-core is not installed at {AXE_JS} (make test installs it with npm)"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def launch(playwright):
    return playwright.chromium.launch(executable_path=_chromium_path(), args=LAUNCH_ARGS)


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def check_page(page, name: str) -> None:
    """Accessibility at both widths, and a screenshot of each (written to SCREENSHOT_DIR)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found = []
    for label, size in (("desktop", DESKTOP), ("360px", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        found += [f"[{label}] {v}" for v in serious_violations(page)]
        if label == "360px":
            # Reads well at 360 px: nothing wider than the screen.
            overflow = page.evaluate("() => document.documentElement.scrollWidth")
            assert overflow <= size["width"], f"{name}: {overflow} px wide at {size['width']} px"
    page.set_viewport_size(DESKTOP)
    assert not found, f"{name}: " + "; ".join(found)


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    """Waits for a condition another thread or process brings about."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def chromium_with_axe():
    """One headless Chromium per test module, for page tests that run axe-core."""
    reason = unavailable(need_axe=True)
    if reason:
        skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(name="page")
def axe_page(chromium_with_axe, live_server, database_url):
    """A fresh browser context on the live server, ready for check_page()."""
    if not database_url.startswith("sqlite"):
        # A person's flows through the pages, once: every rule they reach is tested on both databases.
        pytest.skip("browser flows run on SQLite only (their services are tested on PostgreSQL too)")
    # bypass_csp: only so that axe-core's script can be added to the page under test.
    context = chromium_with_axe.new_context(base_url=live_server, viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
