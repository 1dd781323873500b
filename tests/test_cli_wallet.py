"""`loyalty wallet dev-certs`, `loyalty wallet doctor`, start-up's wallet check and the demo's pass, run
as a user runs them: the console script in a subprocess."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loyalty.wallet.dev_certs import paths_in as dev_certificate_paths
from loyalty.wallet.dev_certs import write_dev_certificates
from tests.apns_peer import dev_apns_peer
from tests.commands import LOYALTY, loyalty_server
from tests.discovery import assert_valid
from tests.google_peer import verified_save_link_claims
from tests.test_graceful_stop import free_port

PASS_TYPE = "pass.dev.loyalty.example"


def run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=f"sqlite:///{cwd / 'wallet.db'}", **settings)
    return subprocess.run([str(LOYALTY), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def apple_settings(directory: Path, **overrides: str) -> dict[str, str]:
    settings = {
        "LOYALTY_APPLE_PASS_TYPE_ID": PASS_TYPE,
        "LOYALTY_APPLE_TEAM_ID": "DEVTEAM123",
        "LOYALTY_APPLE_CERT": str(directory / "pass.pem"),
        "LOYALTY_APPLE_KEY": str(directory / "pass.key"),
        "LOYALTY_APPLE_WWDR_CERT": str(directory / "wwdr.pem"),
    }
    settings.update(overrides)
    return settings


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("loyalty: error:")]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    result = run("wallet", "dev-certs", str(directory), cwd=directory)
    assert result.returncode == 0, result.stderr
    return directory


def test_dev_certs_writes_a_chain_shaped_like_apples(certificates: Path) -> None:
    subject = subprocess.run(
        ["openssl", "x509", "-in", str(certificates / "pass.pem"), "-noout", "-subject", "-issuer"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    chain = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certificates / "root.pem"), "-untrusted",
         str(certificates / "wwdr.pem"), str(certificates / "pass.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert f"subject=UID = {PASS_TYPE}, CN = Pass Type ID: {PASS_TYPE}, OU = DEVTEAM123" in subject
    assert "issuer=CN = Loyalty Development WWDR stand-in" in subject
    assert chain.returncode == 0, chain.stdout + chain.stderr
    assert oct((certificates / "pass.key").stat().st_mode & 0o777) == "0o600"


def test_doctor_passes_a_good_google_set_up_and_names_a_bad_issuer(certificates: Path) -> None:
    google = {
        "LOYALTY_GOOGLE_ISSUER_ID": "3388000000000000001",
        "LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE": str(certificates / "google-service-account.json"),
    }
    good = run("wallet", "doctor", cwd=certificates, **google)
    bad = run("wallet", "doctor", cwd=certificates, **{**google, "LOYALTY_GOOGLE_ISSUER_ID": "my-issuer"})
    missing = run(
        "wallet", "doctor", cwd=certificates, **{**google, "LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE": "/nowhere.json"}
    )

    assert good.returncode == 0, good.stderr
    assert "Google Wallet: ok: issuer 3388000000000000001" in good.stdout
    assert "loyalty-dev@loyalty-dev.iam.gserviceaccount.com" in good.stdout
    assert "token endpoint http://127.0.0.1:8470/token" in good.stdout
    assert "Apple Wallet: not configured" in good.stdout
    assert bad.returncode == 1
    assert "Google Wallet: error: LOYALTY_GOOGLE_ISSUER_ID is 'my-issuer'" in bad.stderr
    assert missing.returncode == 1
    assert "/nowhere.json does not exist" in missing.stderr


def test_doctor_passes_a_good_set_up(certificates: Path) -> None:
    result = run("wallet", "doctor", cwd=certificates, **apple_settings(certificates))

    assert result.returncode == 0, result.stderr
    assert f"Apple Wallet: ok: pass type {PASS_TYPE}" in result.stdout


def test_doctor_says_when_apple_wallet_is_not_configured(tmp_path: Path) -> None:
    result = run("wallet", "doctor", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Apple Wallet: not configured" in result.stdout


def test_doctor_names_each_mistake_in_one_line(certificates: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_dev_certificates(other, pass_type_identifier="pass.other.example")
    cases = {  # the setting changed → what the one line says
        "key": ({"LOYALTY_APPLE_KEY": str(other / "pass.key")}, "is not the pass certificate's key"),
        "wwdr": ({"LOYALTY_APPLE_WWDR_CERT": str(other / "wwdr.pem")}, "did not sign the pass"),
        "type": ({"LOYALTY_APPLE_PASS_TYPE_ID": "pass.wrong.type"}, "but the pass certificate is for pass.dev"),
        "base": ({"LOYALTY_PUBLIC_BASE_URL": "http://shop.example"}, "https only"),
        "file": ({"LOYALTY_APPLE_CERT": str(tmp_path / "missing.pem")}, "LOYALTY_APPLE_CERT: cannot read"),
        "team": ({"LOYALTY_APPLE_TEAM_ID": ""}, "LOYALTY_APPLE_TEAM_ID is not set"),
    }
    for case, (changed, expected) in cases.items():
        result = run("wallet", "doctor", cwd=tmp_path, **apple_settings(certificates, **changed))

        assert result.returncode == 1, case
        assert any(expected in line for line in result.stderr.splitlines()), (case, result.stderr)


def test_doctor_warns_a_month_before_the_certificate_expires(tmp_path: Path) -> None:
    write_dev_certificates(tmp_path, leaf_expires_at=datetime.now(UTC) + timedelta(days=20))

    result = run("wallet", "doctor", cwd=tmp_path, **apple_settings(tmp_path))

    assert result.returncode == 0, result.stderr
    assert re.search(r"Apple Wallet: warning: the pass certificate expires on \d{4}-\d\d-\d\d", result.stdout)


def test_serve_refuses_a_wallet_no_device_would_accept(certificates: Path, tmp_path: Path) -> None:
    settings = apple_settings(certificates, LOYALTY_APPLE_PASS_TYPE_ID="pass.wrong.type")

    result = run("serve", "--port", str(free_port()), cwd=tmp_path, **settings)

    assert result.returncode == 1
    assert error_lines(result) == [
        "loyalty: error: Apple Wallet: LOYALTY_APPLE_PASS_TYPE_ID is 'pass.wrong.type' but the pass certificate "
        "is for pass.dev.loyalty.example"
    ]


def test_the_demos_pass_verifies_with_openssl_against_the_development_root(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", LOYALTY_BCRYPT_ROUNDS="4")
    with loyalty_server("demo", env, tmp_path) as base:
        printed = (tmp_path / next(p.name for p in tmp_path.glob("demo-*.log"))).read_text()
        pass_url = re.search(r"Apple Wallet pass (\S+)", printed)
        google_url = re.search(r"Google Wallet link (\S+)", printed)
        assert pass_url is not None and google_url is not None, printed
        response = httpx.get(pass_url.group(1), timeout=30)
        assert pass_url.group(1).startswith(base)
        save_link = httpx.get(google_url.group(1), timeout=30)
        join_url = re.search(r"Enrolment pages (\S+)", printed)  # the newcomer's way in (issue 16)
        assert join_url is not None and join_url.group(1).startswith(f"{base}/join/"), printed
        join_page = httpx.get(join_url.group(1), timeout=30)
        counter = counter_stamps_a_typed_number(base, printed)  # issue 17: pair the demo's terminal, stamp
        dashboard = signs_in(printed, "Dashboard", "/vendor/invite/")  # issue 18: the café owner's invitation
        admin_pages = signs_in(printed, "Admin pages", "/admin/invite/")  # and the platform admin's

    assert response.status_code == 200, response.text
    wallet = tmp_path / ".loyalty-dev" / "wallet"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extract("manifest.json", tmp_path)
        archive.extract("signature", tmp_path)
    (tmp_path / "ca.pem").write_bytes((wallet / "root.pem").read_bytes() + (wallet / "wwdr.pem").read_bytes())
    verified = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "signature"),
         "-content", str(tmp_path / "manifest.json"), "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "any",
         "-out", os.devnull],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert join_page.status_code == 200 and 'type="email"' in join_page.text
    assert "Stamp added: 1 of 10 stamps" in counter and "1 stamp out of 10" in counter
    assert "<h1>Overview</h1>" in dashboard and "Café Demo" in dashboard
    assert "Café Demo" in admin_pages and "Bakery Demo" in admin_pages and "/admin/logout" in admin_pages

    # The demo's Google Wallet link: a JWT that verifies with the development service account's certificate,
    # carrying an object Google's discovery document accepts.
    assert save_link.status_code == 200, save_link.text
    certificate = (wallet / "google-service-account.pem").read_bytes()
    claims = verified_save_link_claims(save_link.json()["save_url"], certificate)
    assert (claims["aud"], claims["typ"], claims["origins"]) == ("google", "savetowallet", [base])
    [loyalty_object] = claims["payload"]["loyaltyObjects"]
    assert_valid("LoyaltyObject", loyalty_object, required=True)


def signs_in(printed: str, line: str, path: str) -> str:
    """A sign-in line the demo prints (the café owner's, the platform admin's): its one-time link, a password
    chosen, the page it opens on."""
    link = re.search(rf"{line}\s+(\S+{path}\S+)", printed)
    assert link is not None, printed
    with httpx.Client(timeout=30) as browser:
        page = browser.get(link.group(1))
        token = re.search(r'name="csrf_token" value="([\w-]+)"', page.text)
        assert page.status_code == 200 and token is not None, page.text
        chosen = {"csrf_token": token.group(1), "password": "espresso at dawn", "password_again": "espresso at dawn"}
        return browser.post(link.group(1), data=chosen, follow_redirects=True).text


def counter_stamps_a_typed_number(base: str, printed: str) -> str:
    """What a newcomer does with the demo's counter line: pairs a browser with the printed code, types
    Alice's card number as printed and stamps it with Anna's PIN. Returns the page that answers the stamp."""
    code = re.search(r"Counter\s+(\S+)\s+pairing code (\d{8})", printed)
    alice = re.search(r"Café Demo\s+Alice\s+card_id \d+\s+number (\d{16})", printed)
    assert code is not None and alice is not None and code.group(1) == f"{base}/terminal/pair", printed
    with httpx.Client(base_url=base, timeout=30) as tablet:
        pair_page = re.search(r'name="csrf_token" value="([\w-]+)"', tablet.get("/terminal/pair").text)
        assert pair_page is not None
        typed = {"pairing_code": code.group(2), "csrf_token": pair_page.group(1)}
        paired = tablet.post("/terminal/pair", data=typed, follow_redirects=True)
        assert paired.status_code == 200 and str(paired.url) == f"{base}/terminal", paired.text
        csrf = re.search(r'name="csrf_token" value="(\w+)"', paired.text)
        assert csrf is not None
        number = " ".join(alice.group(1)[i : i + 4] for i in range(0, 16, 4))
        found = tablet.post("/terminal/find", data={"csrf_token": csrf.group(1), "card_number": number})
        card_id = re.search(r'name="card_id" value="(\d+)"', found.text)
        assert found.status_code == 200 and card_id is not None, found.text
        form = {"csrf_token": csrf.group(1), "card_id": card_id.group(1), "action": "stamp", "staff_pin": "1234"}
        return tablet.post("/terminal/act", data=form).text


def test_the_demos_log_shows_the_push_after_a_stamp_on_a_card_a_device_holds(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", LOYALTY_BCRYPT_ROUNDS="4")
    with loyalty_server("demo", env, tmp_path) as base:
        log = next(tmp_path.glob("demo-*.log"))
        token = re.search(r"Café Demo\s+Alice\s+card_id (\d+).*?\n\s+page \S+/card/(\S+)", log.read_text())
        assert token is not None, log.read_text()
        card_id, card_token = token.groups()
        with zipfile.ZipFile(
            io.BytesIO(httpx.get(f"{base}/api/v1/loyalty/cards/{card_token}/apple-pass").content)
        ) as z:
            document = json.loads(z.read("pass.json"))
        registered = httpx.post(
            f"{document['webServiceURL']}/v1/devices/demo-phone/registrations/{PASS_TYPE}/{document['serialNumber']}",
            json={"pushToken": "f" * 64},
            headers={"Authorization": f"ApplePass {document['authenticationToken']}"},
        )
        stamped = httpx.post(
            f"{base}/api/v1/vendor/loyalty/stamp",
            json={"card_id": int(card_id), "staff_pin": "1234"},
            headers={"Authorization": "Bearer lyk_live_demo_cafe_00000000000000000000000000"},
        )
        linked = httpx.get(f"{base}/api/v1/loyalty/cards/{card_token}/google-wallet")
        pushed = synced = None
        deadline = time.monotonic() + 20
        while (pushed is None or synced is None) and time.monotonic() < deadline:
            time.sleep(0.2)
            lines = log.read_text().splitlines()
            pushed = next((line for line in lines if '"event": "wallet_push"' in line), None)
            synced = next(
                (line for line in lines if '"event": "wallet_sync"' in line and "loyaltyObject" in line), None
            )

    assert registered.status_code == 201, registered.text
    assert stamped.status_code == 201, stamped.text
    assert pushed is not None, log.read_text()
    push = json.loads(pushed)
    assert (push["card_id"], push["outcome"], push["dry_run"]) == (int(card_id), "delivered", True)
    assert "f" * 64 not in log.read_text()  # the push token stays out of the log
    assert linked.status_code == 200, linked.text
    assert synced is not None, log.read_text()
    assert json.loads(synced)["dry_run"] is True  # Google would refuse the development key: logged, not sent


def test_the_worker_stops_on_sigterm_with_status_0(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=f"sqlite:///{tmp_path / 'worker.db'}")
    subprocess.run([str(LOYALTY), "db", "upgrade"], env=env, capture_output=True, check=True, timeout=60)
    worker = subprocess.Popen(
        [str(LOYALTY), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    started = ""
    while "worker_started" not in started and time.monotonic() < deadline:
        line = worker.stderr.readline() if worker.stderr else ""
        started += line
    worker.send_signal(signal.SIGTERM)
    _, rest = worker.communicate(timeout=30)

    assert "worker_started" in started, started + rest
    assert worker.returncode == 0, started + rest
    assert "worker_stopped" in rest


def test_the_worker_pushes_through_apns_and_keeps_the_push_token_out_of_its_log(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=f"sqlite:///{database}", LOYALTY_BCRYPT_ROUNDS="4")
    seeded = subprocess.run([str(LOYALTY), "demo", "--seed-only"], env=env, cwd=tmp_path, capture_output=True)
    assert seeded.returncode == 0, seeded.stderr
    token = "e" * 64
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO apple_device_registrations (vendor_id, card_id, device_library_identifier, push_token,"
            " pass_type_identifier, serial_number, created_at)"
            " SELECT vendor_id, id, 'phone', ?, ?, pass_serial_number, CURRENT_TIMESTAMP"
            " FROM loyalty_cards WHERE id = 1",
            (token, PASS_TYPE),
        )
        connection.execute(
            "INSERT INTO wallet_outbox (vendor_id, card_id, provider, pass_version, status, attempts, due_at,"
            " created_at)"
            " SELECT vendor_id, id, 'apple', updated_at, 'pending', 0, '2000-01-01', CURRENT_TIMESTAMP"
            " FROM loyalty_cards WHERE id = 1"
        )
    wallet = tmp_path / ".loyalty-dev" / "wallet"
    with dev_apns_peer(dev_certificate_paths(wallet)) as peer:
        env.update(apple_settings(wallet), LOYALTY_APNS_URL=peer.url, LOYALTY_APNS_CA_FILE=str(wallet / "root.pem"))
        worker = subprocess.Popen(
            [str(LOYALTY), "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            [push] = peer.wait_for_requests(1, within=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, log = worker.communicate(timeout=30)

    assert push.token == token and push.topic == PASS_TYPE and push.status == 200
    assert '"event": "wallet_push"' in log and '"outcome": "delivered"' in log
    assert token not in log
