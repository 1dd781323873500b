"""The vendored front-end packages (PAGES.md, "Front-end assets"; static/vendor/VENDORED.md): every file is listed
with its SHA-256 and nothing unlisted sits beside them, the ZXing .wasm is ours and served as application/wasm,
uPlot is the version VENDORED.md names and its stylesheet is served as CSS, and no vendored script fetches from a
CDN except the one default that static/scan.js overrides."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from loyalty.web.rendering import STATIC_DIR, STATIC_URL

VENDOR_DIR = STATIC_DIR / "vendor"
VENDORED_MD = VENDOR_DIR / "VENDORED.md"
SCAN_JS = STATIC_DIR / "scan.js"
WASM = "zxing-wasm/zxing_reader.wasm"
UPLOT_JS, UPLOT_CSS = "uplot/uPlot.iife.min.js", "uplot/uPlot.min.css"

# A table row of VENDORED.md: | `path/under/vendor` | `sha256` | ...
LISTED_ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|\s*`(?P<sha256>[0-9a-f]{64})`\s*\|", re.MULTILINE)
# An absolute URL in JavaScript, however it is quoted; the host is what the browser would reach.
URL = re.compile(r"(?:https?:)?//(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)+)(?P<path>/[^\s\"'`)]*)?", re.IGNORECASE)
# Hosts that serve npm packages: a vendored script fetching from one of them defeats vendoring.
CDN_HOSTS = re.compile(r"jsdelivr\.net|unpkg\.com|cdnjs\.|esm\.sh|skypack\.dev|jspm\.io|esm\.run|githack\.com")
# The only CDN address a vendored script may hold: barcode-detector's default location of zxing-wasm's .wasm,
# which scan.js replaces with ours (prepareZXingModule's locateFile) before any detector is created.
OVERRIDDEN_DEFAULT = re.compile(r"//fastly\.jsdelivr\.net/npm/zxing-wasm@[\d.]+/dist/")


def listed_files() -> dict[str, str]:
    """VENDORED.md's files, path under static/vendor/ -> sha256."""
    rows = [(row["path"], row["sha256"]) for row in LISTED_ROW.finditer(VENDORED_MD.read_text(encoding="utf-8"))]
    listed = dict(rows)
    assert len(listed) == len(rows), "a file is listed twice in VENDORED.md"
    return listed


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendored_scripts() -> list[Path]:
    return sorted(path for path in VENDOR_DIR.rglob("*") if path.suffix in {".js", ".mjs", ".cjs"})


def test_every_listed_file_is_there_with_its_sha256() -> None:
    listed = listed_files()

    assert WASM in listed
    assert "barcode-detector/LICENSE" in listed and "zxing-wasm/LICENSE" in listed
    assert {UPLOT_JS, UPLOT_CSS, "uplot/LICENSE"} <= set(listed)
    for name, expected in listed.items():
        path = VENDOR_DIR / name
        assert path.is_file(), f"{name} is listed in VENDORED.md but missing"
        assert sha256(path) == expected, f"{name} differs from the copy VENDORED.md lists"


def test_nothing_unlisted_sits_in_the_vendor_folder() -> None:
    present = {path.relative_to(VENDOR_DIR).as_posix() for path in VENDOR_DIR.rglob("*") if path.is_file()} - {
        VENDORED_MD.name
    }

    assert present == set(listed_files())


def test_the_vendored_glue_expects_the_vendored_wasm() -> None:
    # zxing-wasm's glue (bundled into barcode-detector) carries the sha256 of the .wasm it was built with.
    glue = "\n".join(path.read_text(encoding="utf-8") for path in vendored_scripts())
    expected = sha256(VENDOR_DIR / WASM)

    assert re.search(rf"[\"'`]{expected}[\"'`]", glue), "the .wasm is not the one barcode-detector was built for"


def test_uplot_is_the_version_vendored_md_names() -> None:
    # The build's banner comment names its version; VENDORED.md's heading names the one its hashes are of.
    banner = re.search(r"uPlot \(v(?P<version>[\d.]+)\)", (VENDOR_DIR / UPLOT_JS).read_text(encoding="utf-8"))
    listed = re.search(r"^## uPlot (?P<version>[\d.]+)$", VENDORED_MD.read_text(encoding="utf-8"), re.MULTILINE)

    assert banner is not None and listed is not None
    assert banner["version"] == listed["version"]


def test_no_vendored_script_fetches_from_a_cdn_that_scan_js_does_not_override() -> None:
    overridden: list[str] = []
    for script in vendored_scripts():
        for url in URL.finditer(script.read_text(encoding="utf-8")):
            if not CDN_HOSTS.search(url["host"]):
                continue
            name = script.relative_to(VENDOR_DIR).as_posix()
            assert OVERRIDDEN_DEFAULT.search(url.group()), f"{name} fetches from {url.group()}"
            overridden.append(url.group())

    scan = SCAN_JS.read_text(encoding="utf-8")
    assert not [url.group() for url in URL.finditer(scan)], "scan.js holds an absolute URL"
    if overridden:
        # scan.js points the ponyfill's .wasm at our copy, derived from its own URL (works under /static/).
        assert re.search(r"prepareZXingModule\(\s*\{\s*overrides:\s*\{[\s\S]{0,500}?\blocateFile:", scan)
        assert f'new URL("./vendor/{WASM}", import.meta.url)' in scan
        assert "setZXingModuleOverrides" not in scan  # deprecated in favour of prepareZXingModule


@pytest.mark.anyio
async def test_the_wasm_and_the_scripts_are_served_with_the_types_browsers_require(
    client: httpx.AsyncClient,
) -> None:
    # WebAssembly.instantiateStreaming refuses any other type than application/wasm (the ponyfill then falls back
    # to a slower path and logs an error), and a module script needs a JavaScript type under nosniff.
    wasm = await client.get(f"{STATIC_URL}/vendor/{WASM}")
    assert wasm.status_code == 200
    assert wasm.headers["content-type"].split(";")[0].strip() == "application/wasm"
    assert hashlib.sha256(wasm.content).hexdigest() == listed_files()[WASM]

    for script in ("scan.js", *(f"vendor/{path.relative_to(VENDOR_DIR).as_posix()}" for path in vendored_scripts())):
        answer = await client.get(f"{STATIC_URL}/{script}")
        assert answer.status_code == 200, script
        assert answer.headers["content-type"].split(";")[0].strip() in {"text/javascript", "application/javascript"}

    # A stylesheet of another type is ignored under nosniff, and the chart would lose its legend's layout.
    css = await client.get(f"{STATIC_URL}/vendor/{UPLOT_CSS}")
    assert css.status_code == 200
    assert css.headers["content-type"].split(";")[0].strip() == "text/css"
    assert hashlib.sha256(css.content).hexdigest() == listed_files()[UPLOT_CSS]
