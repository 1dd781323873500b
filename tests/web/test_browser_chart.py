"""The overview's 30-day chart in a real browser (PAGES.md, "Vendor dashboard", "Front-end assets",
"Accessibility"): entries made through the API on several days of the last 30 (the live app's clock moved back
and forth) → the table beneath the chart equals the API's `daily` statistics day by day, and the chart, drawn by
the vendored uPlot from that table, shows the same numbers, with no console error and no accessibility
violation. Without JavaScript the page is the table alone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import BrowserLog, LiveApp, assert_accessible, guarded_context
from tests.web.test_browser_dashboard import signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

# style.css's --series-1 … --series-4, in the table's column order (the chart's lines).
SERIES_COLOURS = {"Stamps": (0x0B, 0x57, 0xD0), "Points earned": (0xB3, 0x40, 0x0A),
                  "Rewards given": (0x7B, 0x2D, 0x8E), "New cards": (0x1A, 0x7F, 0x37)}  # fmt: skip


async def seed_several_days(live: LiveApp) -> None:
    """Through the vendor API, at the live app's idea of now moved back: 20 days ago a new card gets a stamp and
    points; 9 days ago another card, a stamp on each and points; 2 days ago the first card's third stamp, its
    reward (the tenant's target is 3) and points; today a stamp on the tenant's own card. The clock is back at
    the present after."""
    tenant, clock = live.tenant, live.clock
    async with httpx.AsyncClient(base_url=f"{live.base_url}/api/v1/vendor/loyalty", headers=tenant.headers) as api:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await api.post(path, json=body)
            assert answer.status_code == 201, (path, answer.text)
            result: dict[str, Any] = answer.json()
            return result

        def at(card_id: int) -> dict[str, Any]:
            return {"card_id": card_id, "staff_pin": tenant.pin}

        try:
            clock.advance(-timedelta(days=20))
            first = (await post("/cards", {"email": "first@example.org"}))["id"]
            await post("/stamp", at(first))
            await post("/points/earn", {**at(first), "purchase_amount_cents": 450})
            clock.advance(timedelta(days=11))  # 9 days ago
            second = (await post("/cards", {"email": "second@example.org"}))["id"]
            await post("/stamp", at(first))
            await post("/stamp", at(second))
            await post("/points/earn", {**at(second), "purchase_amount_cents": 1234})
            clock.advance(timedelta(days=7))  # 2 days ago
            await post("/stamp", at(first))
            await post("/stamp/redeem", at(first))
            await post("/points/earn", {**at(first), "purchase_amount_cents": 300})
        finally:
            clock.advance(-clock.offset)  # the present again: sessions are signed in real time
        await post("/stamp", at(tenant.card_id))


async def api_daily(live: LiveApp) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        answer = await client.get("/api/v1/vendor/loyalty/stats", headers=live.tenant.headers)
    assert answer.status_code == 200
    daily: list[dict[str, Any]] = answer.json()["daily"]
    return daily


async def shown_table(page: Page) -> list[dict[str, Any]]:
    """The #daily table's rows, oldest first, in the API's shape (its numbers as the cells show them)."""
    rows: list[dict[str, Any]] = await page.locator("#daily tbody tr").evaluate_all(
        """rows => rows.map(row => ({date: row.dataset.day,
                                     cells: Array.from(row.cells).slice(1).map(cell => cell.innerText)}))"""
    )
    names = ("stamps", "points_earned", "redemptions", "new_cards")
    return sorted(
        (
            {"date": row["date"], **{name: int(cell) for name, cell in zip(names, row["cells"], strict=True)}}
            for row in rows
        ),
        key=lambda row: str(row["date"]),
    )


async def drawn_pixels(page: Page, colour: tuple[int, int, int]) -> int:
    """How many of the chart canvas's pixels are exactly `colour` (a line's middle, not its antialiased edge)."""
    count: int = await page.locator("#daily-chart canvas").evaluate(
        """(canvas, [r, g, b]) => {
             const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
             let found = 0;
             for (let i = 0; i < pixels.length; i += 4)
               if (pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b && pixels[i + 3] === 255) found++;
             return found;
           }""",
        list(colour),
    )
    return count


async def test_the_chart_and_its_table_show_the_api_s_30_days(live_app: LiveApp, page: Page) -> None:
    await seed_several_days(live_app)
    expected = await api_daily(live_app)
    assert len(expected) == 30
    assert sum(1 for day in expected if day["stamps"]) >= 4  # the seeding did spread over several days
    assert sum(day["redemptions"] for day in expected) == 1 and sum(day["new_cards"] for day in expected) == 3

    await signed_in(live_app, page)

    assert await shown_table(page) == expected
    chart = page.locator("#daily-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator(".uplot canvas")).to_have_count(1)
    box = await chart.locator(".uplot canvas").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] >= 220
    assert await chart.locator(".u-legend .u-label").all_inner_texts() == ["Day", *SERIES_COLOURS]
    for name, colour in SERIES_COLOURS.items():
        assert await drawn_pixels(page, colour) > 0, f"no line drawn for {name}"
    await expect(chart).to_have_attribute("aria-label", re.compile("The table below has the numbers"))

    # Pointing at a day shows that day's figures in the legend: the chart holds the table's numbers.
    over = await chart.locator(".u-over").bounding_box()
    assert over is not None
    nine_days_ago = expected[-10]
    await page.mouse.move(over["x"] + over["width"] * 20 / 29, over["y"] + over["height"] / 2)
    values = await chart.locator(".u-legend .u-value").all_inner_texts()
    row_heading = await page.locator(f'#daily tr[data-day="{nine_days_ago["date"]}"] th').inner_text()
    wanted = [nine_days_ago[name] for name in ("stamps", "points_earned", "redemptions", "new_cards")]
    assert values == [row_heading, *map(str, wanted)]

    await assert_accessible(page)
    await page.set_viewport_size({"width": 360, "height": 740})  # a phone: the chart narrows with the page
    await page.wait_for_function("() => document.querySelector('#daily-chart canvas').clientWidth < 360")
    await assert_accessible(page)


async def test_without_javascript_the_overview_is_the_table(
    live_app: LiveApp, page: Page, browser: Browser, browser_log: BrowserLog
) -> None:
    await signed_in(live_app, page)
    signed_in_state = await page.context.storage_state()

    async with guarded_context(browser, browser_log, java_script_enabled=False, storage_state=signed_in_state) as bare:
        scriptless = await bare.new_page()
        await scriptless.goto(live_app.url("/vendor"))
        await expect(scriptless.locator("#daily tbody tr")).to_have_count(30)
        await expect(scriptless.locator("#daily-chart")).to_be_hidden()
        await expect(scriptless.locator(".uplot")).to_have_count(0)
        # (axe-core cannot run here: it is JavaScript. The same page with script is checked above.)
