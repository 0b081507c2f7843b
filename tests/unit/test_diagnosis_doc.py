"""docs/diagnosis.md carries the fault catalogue exactly as tests/e2e/fault_catalogue.py
generates it: the documented faults are the tested ones."""

from __future__ import annotations

from tests.e2e import fault_catalogue


def test_the_catalogue_table_in_the_docs_is_generated_from_the_test_data() -> None:
    current = fault_catalogue.DOC.read_text()
    assert fault_catalogue.START in current and fault_catalogue.END in current
    assert current == fault_catalogue.render(current), (
        "docs/diagnosis.md is out of date: run `python -m tests.e2e.fault_catalogue`"
    )


def test_the_catalogue_has_25_faults_with_distinct_keys_and_every_runbook_cause() -> None:
    faults = [fault for fault in fault_catalogue.FAULTS if fault.status != "OK"]
    assert len(faults) >= 25
    runbook = " ".join(fault.runbook for fault in fault_catalogue.FAULTS)
    for cause in ("not running", "wrong path", "CORS", "upgrade headers", "firewall", "auth"):
        assert cause in runbook, cause
