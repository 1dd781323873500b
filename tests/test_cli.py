"""The `loyalty` command, run as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty import __version__ as loyalty_version
from loyalty import demo, migrate
from loyalty.db import Database
from loyalty.errors import Unauthenticated
from loyalty.services import api_keys
from tests.test_migrations import fresh_postgres_database, table_names

LOYALTY = Path(sys.executable).parent / "loyalty"


def start_loyalty(*args: str, url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=url, LOYALTY_BCRYPT_ROUNDS="4")
    return subprocess.Popen(
        [str(LOYALTY), *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def loyalty(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return finish(start_loyalty(*args, url=url, cwd=cwd))


def authenticates(url: str, key: str) -> bool:
    async def check() -> bool:
        database = Database.from_url(url)
        try:
            async with database.unit_of_work() as session:
                try:
                    await api_keys.identify(session, key)
                except Unauthenticated:
                    return False
                return True
        finally:
            await database.dispose()

    return asyncio.run(check())


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Exit status 1 and one `loyalty: error:` line (after the line naming the database, when the
    settings were valid enough to name it); nothing on stdout, no traceback."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    if lines and lines[0].startswith("loyalty: database "):
        lines = lines[1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loyalty: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_the_console_script_is_installed() -> None:
    assert LOYALTY.exists(), "install the project into the venv: the `loyalty` console script is missing"


def test_upgrade_create_admin_key_and_downgrade_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    upgraded = loyalty("db", "upgrade", url=sqlite_url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == ""
    assert "api_keys" in table_names(sqlite_url)

    created = loyalty("keys", "create-admin", "--name", "ops laptop", url=sqlite_url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and created.stdout.endswith("\n")
    key = lines[0]
    assert key.startswith(api_keys.ADMIN_PREFIX) and " " not in key
    assert authenticates(sqlite_url, key)
    assert not authenticates(sqlite_url, key + "x")

    second = loyalty("keys", "create-admin", "--name", "ci", url=sqlite_url, cwd=tmp_path)
    assert second.stdout.strip() != key

    person = loyalty("users", "create-admin", "--email", "root@platform.lu", url=sqlite_url, cwd=tmp_path)
    assert person.returncode == 0, person.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/admin/invite/[\w-]{43}\n", person.stdout)  # the link, alone
    twice = loyalty("users", "create-admin", "--email", "ROOT@platform.lu", url=sqlite_url, cwd=tmp_path)
    assert twice.returncode == 1 and "already exists" in twice.stderr

    downgraded = loyalty("db", "downgrade", "base", url=sqlite_url, cwd=tmp_path)
    assert downgraded.returncode == 0, downgraded.stderr
    assert table_names(sqlite_url) <= {"alembic_version"}


def test_a_plain_postgresql_url_works(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        assert url.startswith("postgresql://")
        upgraded = loyalty("db", "upgrade", url=url, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        created = loyalty("keys", "create-admin", "--name", "X", url=url, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        [key] = created.stdout.splitlines()
        assert authenticates(url, key)


ERROR_CASES = {
    "unsupported-upgrade": ("mysql://x", None, ("db", "upgrade")),
    "unsupported-create-admin": ("mysql://x", None, ("keys", "create-admin", "--name", "X")),
    "unsupported-demo": ("mysql://x", None, ("demo", "--seed-only")),
    "not-a-url": ("not a url at all", None, ("db", "upgrade")),
    "unreachable": ("postgresql://postgres@127.0.0.1:1/nowhere", None, ("db", "upgrade")),
    "missing-directory": ("sqlite:////nonexistent-dir/loyalty.db", None, ("keys", "create-admin", "--name", "X")),
    "no-schema": ("sqlite:///empty.db", None, ("keys", "create-admin", "--name", "X")),
    "invalid-setting": ("sqlite:///cli.db", "LOYALTY_DEFAULT_TIMEZONE=Mars/Olympus_Mons\n", ("db", "upgrade")),
    # Two slashes: a host named loyalty.db and no file (it was 80 lines of traceback from each command).
    "sqlite-host-upgrade": ("sqlite://loyalty.db", None, ("db", "upgrade")),
    "sqlite-host-serve": ("sqlite://loyalty.db", None, ("serve", "--port", "1")),
    "sqlite-host-keys": ("sqlite://loyalty.db", None, ("keys", "create-admin", "--name", "X")),
    # `db upgrade` accepted it, then `serve` died with KeyError.
    "log-level-upgrade": ("sqlite:///cli.db", "LOYALTY_LOG_LEVEL=verbose\n", ("db", "upgrade")),
    "log-level-serve": ("sqlite:///cli.db", "LOYALTY_LOG_LEVEL=verbose\n", ("serve",)),
    "never-migrated-serve": ("sqlite:///never-migrated.db", None, ("serve", "--port", "0")),
}


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every error case at once, in parallel: each is a cold start of the command."""
    processes = {}
    for name, (url, env_file, args) in ERROR_CASES.items():
        cwd = tmp_path_factory.mktemp(name)
        if env_file:
            (cwd / ".env").write_text(env_file)
        processes[name] = start_loyalty(*args, url=url, cwd=cwd)
    return {name: finish(process) for name, process in processes.items()}


@pytest.mark.parametrize("case", [name for name in ERROR_CASES if name.startswith("unsupported")])
def test_an_unsupported_url_is_one_line_on_stderr(
    error_runs: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    line = assert_one_line_error(error_runs[case])
    assert "LOYALTY_DATABASE_URL" in line
    assert "'mysql'" in line


def test_a_url_that_is_not_a_url_is_one_line_on_stderr(error_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    assert_one_line_error(error_runs["not-a-url"])


def test_an_unreachable_database_is_one_line_on_stderr(error_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = assert_one_line_error(error_runs["unreachable"])
    assert "cannot reach the database" in line


def test_a_missing_sqlite_directory_is_one_line_on_stderr(
    error_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    # aiosqlite's worker thread may print "Event loop is closed" after a failed connect: not here.
    line = assert_one_line_error(error_runs["missing-directory"])
    assert "unable to open database file" in line


def test_a_database_without_schema_says_to_upgrade(error_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = assert_one_line_error(error_runs["no-schema"])
    assert "loyalty db upgrade" in line


def test_an_invalid_setting_is_one_line_on_stderr(error_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = assert_one_line_error(error_runs["invalid-setting"])
    assert "LOYALTY_DEFAULT_TIMEZONE" in line


@pytest.mark.parametrize("case", [name for name in ERROR_CASES if name.startswith("sqlite-host")])
def test_a_sqlite_url_without_a_file_is_one_line_from_every_command(
    error_runs: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    line = assert_one_line_error(error_runs[case])
    assert "LOYALTY_DATABASE_URL must name a SQLite file" in line and "sqlite:///" in line


@pytest.mark.parametrize("case", ["log-level-upgrade", "log-level-serve"])
def test_an_unknown_log_level_is_refused_up_front_by_every_command(
    error_runs: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    line = assert_one_line_error(error_runs[case])
    assert "LOYALTY_LOG_LEVEL" in line and "'verbose'" in line and "INFO" in line


def test_serve_on_a_database_never_migrated_says_to_upgrade(
    error_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    line = assert_one_line_error(error_runs["never-migrated-serve"])
    assert "run `loyalty db upgrade`" in line and "no schema" in line


def test_serve_on_a_database_behind_the_code_says_to_upgrade(sqlite_url: str, tmp_path: Path) -> None:
    migrate.upgrade(sqlite_url)  # set-up in process: the commands themselves are tested above and below
    migrate.downgrade(sqlite_url, "-1")
    line = assert_one_line_error(loyalty("serve", "--port", "0", url=sqlite_url, cwd=tmp_path))
    assert "behind" in line and "run `loyalty db upgrade`" in line


def test_a_port_in_use_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    migrate.upgrade(sqlite_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        started = [
            start_loyalty(command, "--port", port, url=sqlite_url, cwd=tmp_path) for command in ("serve", "demo")
        ]
        for process in started:  # both at once: each is a cold start of the command
            line = assert_one_line_error(finish(process))
            assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line


def test_a_database_url_with_a_trailing_space_uses_the_file_without_it(tmp_path: Path) -> None:
    result = loyalty("db", "upgrade", url="sqlite:///./spaced.db ", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("spaced")) == ["spaced.db"]


def test_version_and_plain_flags_in_help(tmp_path: Path) -> None:
    commands = [("serve",), ("demo",), ("db", "upgrade"), ("keys", "create-admin"), ()]
    started = [start_loyalty("--version", url="sqlite:///unused.db", cwd=tmp_path)] + [
        start_loyalty(*command, "--help", url="sqlite:///unused.db", cwd=tmp_path) for command in commands
    ]  # all at once: each is a cold start of the command
    version, *helps = [finish(process) for process in started]
    assert version.returncode == 0 and version.stdout == f"loyalty {loyalty_version}\n"
    for shown in helps:
        assert shown.returncode == 0, shown.stderr
        assert "<bool>" not in shown.stdout and "--help" in shown.stdout, shown.stdout
    serve_help = helps[0].stdout
    assert re.search(r"^\s+--migrate\s+Run", serve_help, re.MULTILINE), serve_help
    assert not (tmp_path / "unused.db").exists()


def test_commands_name_their_database_and_upgrade_names_the_revision_reached(sqlite_url: str, tmp_path: Path) -> None:
    upgraded = loyalty("db", "upgrade", url=sqlite_url, cwd=tmp_path)
    head = migrate.code_head()
    assert upgraded.stderr.splitlines() == [
        f"loyalty: database SQLite file {tmp_path / 'cli.db'}",
        f"database at revision {head} (head)",
    ]
    assert head != "head" and re.fullmatch(r"[0-9a-f]{4,}", head)
    downgraded = loyalty("db", "downgrade", url=sqlite_url, cwd=tmp_path)
    assert downgraded.stderr.splitlines()[-1] == f"database at revision {int(head) - 1:04d} (head is {head})"
    assert loyalty("db", "downgrade", "base", url=sqlite_url, cwd=tmp_path).stderr.splitlines()[-1] == (
        "database at revision base (no schema)"
    )


def test_the_database_line_hides_the_password(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        with_password = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
        assert with_password != url  # trust authentication: any password is accepted
        upgraded = loyalty("db", "upgrade", url=with_password, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        first = upgraded.stderr.splitlines()[0]
        assert first.startswith("loyalty: database PostgreSQL postgresql://postgres:***@")
        assert "s3cret-pw" not in upgraded.stderr


def test_demo_refuses_a_database_that_is_not_its_own(sqlite_url: str, tmp_path: Path) -> None:
    """The demo plants keys the README publishes: on a database with vendors or keys of its own it
    refuses, in one line, before it migrates or writes anything."""
    migrate.upgrade(sqlite_url)
    created = loyalty("keys", "create-admin", "--name", "ops", url=sqlite_url, cwd=tmp_path)
    [real_key] = created.stdout.splitlines()

    refused = loyalty("demo", "--seed-only", url=sqlite_url, cwd=tmp_path)
    line = assert_one_line_error(refused)
    assert "refusing to load the demo" in line and "--i-know-this-is-not-a-demo-database" in line
    assert "1 API keys" in line
    assert not authenticates(sqlite_url, demo.DEMO_ADMIN_KEY)
    assert assert_one_line_error(loyalty("demo", url=sqlite_url, cwd=tmp_path))  # serving too

    told = loyalty("demo", "--seed-only", "--i-know-this-is-not-a-demo-database", url=sqlite_url, cwd=tmp_path)
    assert told.returncode == 0, told.stderr
    assert authenticates(sqlite_url, demo.DEMO_ADMIN_KEY) and authenticates(sqlite_url, real_key)


def test_demo_on_an_empty_postgresql_database_names_it_and_runs_again(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        first = loyalty("demo", "--seed-only", url=url, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "Loyalty demo ready on PostgreSQL postgresql://postgres@" in first.stdout
        assert "SQLite" not in first.stdout
        again = loyalty("demo", "--seed-only", url=url, cwd=tmp_path)  # its own database now
        assert again.returncode == 0, again.stderr


def test_demo_seed_only_seeds_and_prints_the_demo_keys(sqlite_url: str, tmp_path: Path) -> None:
    result = loyalty("demo", "--seed-only", url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for key in (demo.DEMO_ADMIN_KEY, demo.CAFE_KEY, demo.BAKERY_KEY):
        assert key in result.stdout
        assert authenticates(sqlite_url, key)
    assert "cafe-demo" in result.stdout and "bakery-demo" in result.stdout
    assert f"Loyalty demo ready on SQLite file {tmp_path / 'cli.db'}." in result.stdout

    again = loyalty("demo", "--seed-only", url=sqlite_url, cwd=tmp_path)  # a second run only reports
    assert again.returncode == 0, again.stderr
    # ... but for the one-time secrets, fresh on each run: the pairing code, the owner's and the admin's invitations
    one_time = re.compile(r"pairing code \d{8}|/(?:vendor|admin)/invite/[\w-]+")
    assert one_time.findall(again.stdout) != one_time.findall(result.stdout)
    assert one_time.sub("…", again.stdout) == one_time.sub("…", result.stdout)


def test_rebuild_totals_repairs_totals_written_behind_the_services_back(sqlite_url: str, tmp_path: Path) -> None:
    assert loyalty("demo", "--seed-only", url=sqlite_url, cwd=tmp_path).returncode == 0
    database = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:  # as a bulk load with SQL would leave them
        db.execute("UPDATE vendor_totals SET cards = 0, entries = 0")
    result = loyalty("db", "rebuild-totals", url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "totals rebuilt for 2 vendors" in result.stderr
    with sqlite3.connect(database) as db:
        kept = db.execute("SELECT sum(cards), sum(entries) FROM vendor_totals").fetchone()
        counted = db.execute(
            "SELECT (SELECT count(*) FROM loyalty_cards), (SELECT count(*) FROM loyalty_transactions)"
        ).fetchone()
    assert kept == counted and counted[0] > 0 and counted[1] > 0  # the demo's cards and its month of visits


def test_db_purge_deletes_the_expired_answers_and_says_how_many(sqlite_url: str, tmp_path: Path) -> None:
    migrate.upgrade(sqlite_url)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "INSERT INTO idempotency_records (scope, key, request_fingerprint, status_code, response_body,"
            " created_at) VALUES ('program:1', 'old', 'f', 201, '{}', '2020-01-01 00:00:00.000000')"
        )
    result = loyalty("db", "purge", url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "purged 1 idempotency records, 0 rate-limit buckets, 0 sent wallet updates, 0 ended browser sessions"
        " and 0 old cooldown refusals" in result.stderr
    )
