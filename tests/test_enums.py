"""The programme types and the ledger's entry types are each one enum (models/program.py ProgramType,
models/transaction.py TransactionType): the table's CHECK is built from it, OpenAPI shows it as one
schema with its values, and no module spells its values a second time."""

from __future__ import annotations

import ast
import asyncio
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CheckConstraint, Connection, Table, inspect
from sqlalchemy.engine.interfaces import ReflectedCheckConstraint

from loyalty.app import create_app
from loyalty.db import create_engine
from loyalty.models import LoyaltyProgram, ProgramType, TransactionType
from tests.fixtures import test_settings

SRC = Path(__file__).resolve().parents[1] / "src" / "loyalty"
# The text migration 0001 created: the CHECK built from the enum must stay exactly this, or the models
# and the migrated databases differ without any migration saying so.
MIGRATED_CHECK = "program_type IN ('stamps', 'points', 'hybrid')"


def test_the_program_type_check_is_built_from_the_enum_with_the_migrated_text() -> None:
    checks = {
        constraint.name: str(constraint.sqltext)
        for constraint in cast(Table, LoyaltyProgram.__table__).constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert checks["ck_loyalty_programs_program_type"] == MIGRATED_CHECK
    assert re.findall(r"'(\w+)'", MIGRATED_CHECK) == [member.value for member in ProgramType]


def test_the_migrated_database_checks_the_enum_s_values(database_url: str) -> None:
    def checks_of(sync: Connection) -> list[ReflectedCheckConstraint]:
        return inspect(sync).get_check_constraints("loyalty_programs")

    async def read() -> list[ReflectedCheckConstraint]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(checks_of)
        finally:
            await engine.dispose()

    checks = {check["name"]: check["sqltext"] for check in asyncio.run(read())}
    # PostgreSQL gives its own rendering (`= ANY (ARRAY[…])`), SQLite the text as created: compare the values.
    assert re.findall(r"'(\w+)'", checks["ck_loyalty_programs_program_type"]) == [
        member.value for member in ProgramType
    ]


def test_openapi_shows_each_enum_as_one_schema_with_its_values() -> None:
    spec = create_app(test_settings("sqlite:///unused.db")).openapi()
    schemas = spec["components"]["schemas"]
    for enum in (ProgramType, TransactionType):
        assert schemas[enum.__name__]["enum"] == [member.value for member in enum]
    uses: dict[str, list[Any]] = {"program_type": [], "transaction_type": []}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in uses and isinstance(value, dict):
                    uses[key].append(value)
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schemas)
    for path in spec["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in uses:
                    uses[parameter["name"]].append(parameter["schema"])
    expected = {
        "program_type": "#/components/schemas/ProgramType",
        "transaction_type": "#/components/schemas/TransactionType",
    }
    for field, schemas_of_field in uses.items():
        assert schemas_of_field, f"no {field} in the OpenAPI document"
        for schema in schemas_of_field:
            assert expected[field] in str(schema), f"{field} is not the enum's schema: {schema}"


def _second_spellings(
    enum: type[StrEnum], home: Path, *, anywhere: bool, other_meanings: frozenset[tuple[str, str]] = frozenset()
) -> list[str]:
    """String constants of `src/loyalty` spelling one of the enum's values outside its home module:
    anywhere (`anywhere`, for values no other word uses), or in comparisons and `case` patterns;
    `other_meanings` are (module, value) pairs where the same word means something else."""
    values = {member.value for member in enum}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == home:
            continue
        tree = ast.parse(path.read_text())
        places = [tree] if anywhere else [n for n in ast.walk(tree) if isinstance(n, ast.Compare | ast.match_case)]
        for place in places:
            for node in ast.walk(place):
                if isinstance(node, ast.Constant) and node.value in values:
                    if (str(path.relative_to(SRC)), node.value) in other_meanings:
                        continue
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    return sorted(set(found))


def test_no_module_spells_the_transaction_types_a_second_time() -> None:
    other_meanings = frozenset(
        {
            ("models/vendor_totals.py", "points_redeemed"),  # a column of vendor_totals
            ("web/cards.py", "void"),  # the card page's action and query parameter ("void this entry")
        }
    )
    home = SRC / "models" / "transaction.py"
    assert _second_spellings(TransactionType, home, anywhere=True, other_meanings=other_meanings) == []


def test_no_module_compares_with_a_second_spelling_of_the_program_types() -> None:
    """`stamps` and `points` are also ordinary words (field names, labels): only comparisons count."""
    assert _second_spellings(ProgramType, SRC / "models" / "program.py", anywhere=False) == []
