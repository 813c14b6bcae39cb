from transform.docs import DOCUMENT, main, render, updated


def test_generated_tables_are_up_to_date():
    # Fails after a model or mapping-table change: run `python -m transform.docs`.
    assert main(["--check"]) == 0


def test_every_entity_has_a_section_with_both_platforms():
    text = render()
    for heading in ("### project", "### payment", "### budget line item", "Business Central (`customerPayments`)"):
        assert heading in text
    assert "`check_number` | string" in text and "`documentNumber`" in text
    assert updated(DOCUMENT.read_text()) == DOCUMENT.read_text()
