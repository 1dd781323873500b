"""The counter terminal in a real browser (PAGES.md, "Staff terminal", "Accessibility", "Tests in a real
browser"): pairing with a code made through the API, stamping a typed card number with the keyboard alone,
the refusals' banners in four languages, the PIN lockout, one stamp for a double click and for a retried
request, "4,50" earning on 450 cents, a revoked terminal sent back to pairing, a form without its CSRF token
refused, and the camera finding the card through the real QR decoder. The screenshots of
docs/user-journeys.md ("At the counter") are taken here."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import Page, Route, expect
from sqlalchemy import select

from loyalty.errors import StampCooldown
from loyalty.i18n import translate
from loyalty.models import LoyaltyTransaction
from loyalty.services.card_numbers import format_card_number
from tests.browser import (
    STAFF_NAME,
    BrowserLog,
    LiveApp,
    assert_accessible,
    chromium,
    guarded_context,
    qr_png,
    screenshot,
)
from tests.web.page_checks import check_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

TERMINALS = "/api/v1/vendor/loyalty/terminals"
LANGUAGES = ("en", "fr", "de", "lb")
PAST_THE_COOLDOWN = timedelta(minutes=16)  # the tenant's programme: 15 minutes between two stamps
REFUSED = r"Failed to load resource: the server responded with a status of 4\d\d"
# The camera: a canvas stream showing a QR code stands in for getUserMedia, so the page's real decoding
# path (the vendored barcode-detector ponyfill and its WebAssembly on Linux Chromium) reads it.
FAKE_CAMERA = """(() => {
  const getUserMedia = async () => {
    const image = new Image();
    image.src = "/__test__/qr.png";
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 480;
    const context = canvas.getContext("2d");
    const draw = () => {
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.imageSmoothingEnabled = false;
      context.drawImage(image, 120, 40, 400, 400);
    };
    draw();
    const stream = canvas.captureStream(15);
    const timer = setInterval(draw, 66);
    stream.getVideoTracks()[0].addEventListener("ended", () => clearInterval(timer));
    return stream;
  };
  Object.defineProperty(navigator.mediaDevices, "getUserMedia", { value: getUserMedia, configurable: true });
})();"""


async def pair(live: LiveApp, page: Page, name: str = "Kees 1") -> int:  # data, in no UI language
    """A terminal made through the vendor API, paired on the page by typing its code. Returns its id."""
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        made = await client.post(TERMINALS, json={"name": name}, headers=live.tenant.headers)
    assert made.status_code == 201, made.text
    await page.goto(live.url("/terminal/pair"))
    await page.get_by_label("Pairing code (8 digits)").fill(made.json()["pairing_code"])
    await page.get_by_role("button", name="Pair this device").click()
    await expect(page).to_have_url(live.url("/terminal"))
    return int(made.json()["id"])


async def find_by_number(page: Page, number: str) -> None:
    await page.locator("#card_number").fill(number)
    await page.locator("#find-number button[type=submit]").click()
    await expect(page.locator("#customer-heading")).to_be_visible()


async def act(page: Page, pin: str, *, action: str = "stamp", amount: str | None = None) -> None:
    """Chooses the action, the live tenant's member of staff and types the PIN on the pad, then confirms."""
    await page.locator(f"input[name=action][value='{action}']").check()
    if amount is not None:
        await page.locator("#amount").fill(amount)
    await page.locator("#staff_pin_id").select_option(label=STAFF_NAME)
    await page.locator("#staff_pin").fill("")
    for digit in pin:
        await page.locator(f"#pinpad button[data-digit='{digit}']").click()
    await page.locator("#act button[type=submit]").click()


async def tab_to(page: Page, element_id: str, most: int = 60) -> None:
    """Presses Tab until the element `element_id` has the focus, as a keyboard user reaches it."""
    for _ in range(most):
        if await page.evaluate("document.activeElement?.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


async def ledger(live: LiveApp) -> list[LoyaltyTransaction]:
    async with live.database.unit_of_work() as session:
        return list(await session.scalars(select(LoyaltyTransaction).order_by(LoyaltyTransaction.id)))


async def test_pair_type_a_number_and_stamp_with_the_keyboard_alone(live_app: LiveApp, page: Page) -> None:
    async with httpx.AsyncClient(base_url=live_app.base_url) as client:
        made = await client.post(TERMINALS, json={"name": "Counter 1"}, headers=live_app.tenant.headers)
    await page.goto(live_app.url("/terminal/pair"))
    await assert_accessible(page)
    await screenshot(page, "terminal-pair")
    await tab_to(page, "pairing_code")  # past the skip link and the language switcher
    await page.keyboard.type(made.json()["pairing_code"])
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(live_app.url("/terminal"))
    await assert_accessible(page)

    number = live_app.tenant.card_number
    await tab_to(page, "card_number")  # past the camera's button: typing is always there instead
    await page.keyboard.type(number[:-1] + str((int(number[-1]) + 1) % 10))  # one digit wrong
    await expect(page.locator("#card-number-check")).to_contain_text("check digit does not match")
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Backspace")
    await page.keyboard.type(number)
    await expect(page.locator("#card_number")).to_have_value(format_card_number(number))  # grouped as printed
    await expect(page.locator("#card-number-check")).to_have_text("Check digit correct")
    await page.keyboard.press("Enter")
    await expect(page.locator("#customer-heading")).to_have_text("Customer")
    await expect(page.locator("#stamp-count")).to_have_text("0 stamps out of 3")
    await assert_accessible(page)
    await screenshot(page, "terminal-customer")

    # Stamp is chosen already; Tab to the staff member, choose with the arrow keys, then the PIN on the pad's
    # keys (Tab to a digit, Enter), and Enter in the PIN's field.
    await tab_to(page, "staff_pin_id")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "staff_pin"
    await page.keyboard.type(live_app.tenant.pin[:-1])
    last = live_app.tenant.pin[-1]
    for _ in range(15):  # the pad's key of the last digit
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.digit") == last:
            break
    await page.keyboard.press("Enter")
    await expect(page.locator("#staff_pin")).to_have_value(live_app.tenant.pin)
    for _ in range(15):  # back from the pad's keys to the PIN's field
        if await page.evaluate("document.activeElement.id") == "staff_pin":
            break
        await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Enter")

    await expect(page.locator("#result-ok")).to_have_text("✓ Stamp added: 1 of 3 stamps")
    await expect(page.locator("#stamp-count")).to_have_text("1 stamp out of 3")
    await assert_accessible(page)
    await screenshot(page, "terminal-stamped")
    [entry] = await ledger(live_app)
    assert (entry.staff_pin_id, entry.stamps_delta) == (live_app.tenant.pin_id, 1)
    assert entry.terminal_id is not None

    await page.goto(live_app.url(f"/card/{live_app.tenant.card_token}"))
    await expect(page.locator(".progress")).to_contain_text("1 stamp out of 3")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_pairing_page_in_each_language(
    live_app: LiveApp, page: Page, browser_log: BrowserLog, language: str
) -> None:
    browser_log.expect_console_error(REFUSED)
    await page.goto(live_app.url(f"/terminal/pair?lang={language}"))
    await check_page(page, language)
    await page.locator("#pairing_code").fill("00000000")
    await page.locator("form button[type=submit]").click()  # a wrong code: the error in the language too
    await expect(page.locator("#code-error")).to_be_visible()
    await check_page(page, language)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_cooldown_banner_in_each_language(
    live_app: LiveApp, page: Page, browser_log: BrowserLog, language: str
) -> None:
    browser_log.expect_console_error(REFUSED)
    await pair(live_app, page)
    await page.goto(live_app.url(f"/terminal?lang={language}"))
    await find_by_number(page, live_app.tenant.card_number)
    await act(page, live_app.tenant.pin)
    await expect(page.locator("#result-ok")).not_to_be_empty()
    await act(page, live_app.tenant.pin)
    cooldown = translate(StampCooldown.message, language, minutes=15)
    await expect(page.locator("#result-error")).to_contain_text(cooldown)
    await check_page(page, language)  # lang, no English left, axe
    if language == "en":
        await screenshot(page, "terminal-cooldown")
    assert len(await ledger(live_app)) == 1


async def test_five_wrong_pins_lock_the_terminal(live_app: LiveApp, page: Page, browser_log: BrowserLog) -> None:
    browser_log.expect_console_error(REFUSED)
    await pair(live_app, page)
    await find_by_number(page, live_app.tenant.card_number)
    for left in ("4 attempts left", "3 attempts left", "2 attempts left", "1 attempt left", "0 attempts left"):
        await page.locator("#staff_pin").fill("9876")  # no staff member chosen: counted against the terminal
        await page.locator("#act button[type=submit]").click()
        await expect(page.locator("#result-error")).to_contain_text(left)
    await page.locator("#staff_pin").fill(live_app.tenant.pin)
    await page.locator("#act button[type=submit]").click()
    await expect(page.locator("#result-error")).to_contain_text("Too many wrong PINs")
    await expect(page.locator("#result-error")).to_contain_text("Locked until")
    await screenshot(page, "terminal-locked")
    assert await ledger(live_app) == []


async def test_a_double_click_and_a_retried_request_stamp_once(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    browser_log.expect_console_error(r"net::ERR_FAILED|ERR_CONNECTION|Failed to fetch")
    await pair(live_app, page)
    await find_by_number(page, live_app.tenant.card_number)
    await page.locator("#staff_pin").fill(live_app.tenant.pin)
    await page.locator("#act button[type=submit]").dblclick()
    await expect(page.locator("#result-ok")).to_contain_text("1 of 3")
    assert len(await ledger(live_app)) == 1

    live_app.clock.advance(PAST_THE_COOLDOWN)
    dropped: list[str] = []

    async def drop_the_first_answer(route: Route) -> None:
        if not dropped:  # the server stamps; the answer is lost on the way back
            await route.fetch()
            dropped.append(route.request.headers.get("idempotency-key", ""))
            await route.abort("connectionreset")
        else:
            assert route.request.headers.get("idempotency-key") == dropped[0]  # the retry reuses the key
            await route.continue_()

    await page.route("**/terminal/act", drop_the_first_answer)
    await page.locator("#staff_pin").fill(live_app.tenant.pin)
    await page.locator("#act button[type=submit]").click()
    await expect(page.locator("#result-ok")).to_contain_text("2 of 3")
    assert dropped and dropped[0]
    assert [entry.stamps_delta for entry in await ledger(live_app)] == [1, 1]


async def test_offline_says_nothing_was_recorded(live_app: LiveApp, page: Page, browser_log: BrowserLog) -> None:
    browser_log.expect_console_error(r"net::ERR|Failed to fetch")
    await pair(live_app, page)
    await find_by_number(page, live_app.tenant.card_number)
    await page.route("**/terminal/act", lambda route: route.abort("internetdisconnected"))
    await page.locator("#staff_pin").fill(live_app.tenant.pin)
    await page.locator("#act button[type=submit]").click()
    await expect(page.locator("#result-error")).to_contain_text("No connection: nothing was recorded")
    assert await ledger(live_app) == []


@pytest.mark.parametrize("language", ["fr", "de", "lb"])
async def test_four_fifty_as_typed_earns_on_450_cents(live_app: LiveApp, page: Page, language: str) -> None:
    await pair(live_app, page)
    await page.goto(live_app.url(f"/terminal?lang={language}"))
    await find_by_number(page, live_app.tenant.card_number)
    await act(page, live_app.tenant.pin, action="earn", amount="4,50")
    await expect(page.locator("#result-ok")).not_to_be_empty()
    [entry] = await ledger(live_app)
    assert (entry.purchase_amount_cents, entry.points_delta) == (450, 4)


async def test_a_revoked_terminal_is_sent_back_to_pairing(live_app: LiveApp, page: Page) -> None:
    terminal_id = await pair(live_app, page)
    async with httpx.AsyncClient(base_url=live_app.base_url) as client:
        revoked = await client.delete(f"{TERMINALS}/{terminal_id}", headers=live_app.tenant.headers)
    assert revoked.status_code == 204
    await page.locator("#card_number").fill(live_app.tenant.card_number)
    await page.locator("#find-number button[type=submit]").click()
    await expect(page).to_have_url(live_app.url("/terminal/pair"))
    await page.goto(live_app.url("/terminal"))
    await expect(page).to_have_url(live_app.url("/terminal/pair"))


async def test_a_form_post_without_its_csrf_token_is_refused(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    browser_log.expect_console_error(REFUSED)
    await pair(live_app, page)
    await find_by_number(page, live_app.tenant.card_number)
    await page.locator("#staff_pin").fill(live_app.tenant.pin)
    async with page.expect_response("**/terminal/act") as answer:
        # The form as a page from elsewhere would post it: no token, and sent natively (no script).
        await page.evaluate("""() => {
            const form = document.getElementById("act");
            form.querySelector("[name=csrf_token]").remove();
            form.submit();
        }""")
    assert (await answer.value).status == 403
    await expect(page.locator("h1")).to_have_text("Not recorded")
    assert await ledger(live_app) == []


async def test_the_camera_finds_the_card(live_app: LiveApp, page: Page) -> None:
    await page.route(
        "**/__test__/qr.png",
        lambda route: route.fulfill(body=qr_png(live_app.tenant.qr_code), content_type="image/png"),
    )
    await page.add_init_script(FAKE_CAMERA)
    await pair(live_app, page)
    await page.get_by_role("button", name="Scan the QR code").click()
    await expect(page.locator("#customer-heading")).to_have_text("Customer", timeout=20_000)
    await expect(page.locator("#customer .card-number")).to_have_text(format_card_number(live_app.tenant.card_number))
    await expect(page.locator("#scan-video")).to_be_hidden()  # the camera is off again


def y4m_showing(png: bytes, path: Path, frames: int = 10) -> Path:
    """A YUV4MPEG2 video (the format Chromium's fake capture device plays, looping) of `png` centred on white:
    the grey levels in the Y plane, neutral chroma."""
    width, height = 640, 480
    frame = Image.new("L", (width, height), 255)
    with Image.open(io.BytesIO(png)) as picture:
        side = 400
        frame.paste(picture.convert("L").resize((side, side), Image.Resampling.NEAREST), ((width - side) // 2, 40))
    chroma = bytes([128]) * (width // 2 * height // 2)
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


async def test_chromiums_fake_camera_device_finds_the_card(
    live_app: LiveApp, browser_log: BrowserLog, tmp_path: Path
) -> None:
    """The smoke test with no script in the page: Chromium's own fake capture device plays a video of the
    card's QR, and the permission prompt answers itself."""
    video = y4m_showing(qr_png(live_app.tenant.qr_code), tmp_path / "qr.y4m")
    fake_camera = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-video-capture={video}")  # fmt: skip
    async with chromium(*fake_camera) as browser, guarded_context(browser, browser_log) as context:
        page = await context.new_page()
        await pair(live_app, page)
        await page.get_by_role("button", name="Scan the QR code").click()
        await expect(page.locator("#customer .card-number")).to_have_text(
            format_card_number(live_app.tenant.card_number), timeout=20_000
        )
    browser_log.check()
