"""``python -m platforms.mapping.show``: the generated mapping code, readable and runnable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from platforms.mapping.show import main, render

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_prints_both_functions_with_a_comment_per_field() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "platforms.mapping.show", "procore", "contract"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    source = result.stdout
    assert "def to_canonical_procore_contract(record, context, customer_id):" in source
    assert "def from_canonical_procore_contract(canonical, context):" in source
    assert "# amount <- grand_total" in source
    assert "# amount -> grand_total" in source
    assert "# project_id <- project.id" in source
    # Codecs are named after their field, not numbered.
    assert "amount_codec.currency_of(record, context)" in source
    compile(source, "<show procore contract>", "exec")


@pytest.mark.parametrize("platform", ["procore", "dynamics"])
@pytest.mark.parametrize("reference", [False, True])
def test_every_entity_type_renders_source_that_compiles(platform: str, reference: bool) -> None:
    from canonical import ENTITY_TYPES

    for entity_type in ENTITY_TYPES:
        source = render(platform, entity_type, reference=reference)
        assert f"def to_canonical_{platform}_{entity_type}(" in source
        compile(source, f"<show {platform} {entity_type}>", "exec")


def test_the_reference_variant_calls_every_codec() -> None:
    source = render("dynamics", "invoice", reference=True)
    assert "# project_id, project_number <- shortcutDimension1Code" in source
    assert "project_id_codec.read(record, _Reader(platform, customer_id, context, raw), data)" in source
    assert "by_number" not in source  # the fast paths' extra locals are not bound


def test_unknown_names_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nowhere", "contract"]) == 2
    assert "unknown platform 'nowhere'" in capsys.readouterr().err
    assert main(["procore", "nothing"]) == 2
    assert "unknown entity type 'nothing' for procore" in capsys.readouterr().err
