"""Assessments are shared rows, but creating one never makes another transaction wait."""

import threading

import pytest
from django.db import connection, transaction

from specimens.mids import mids_assessment_for
from standards.mids import mapping_set_for

RECORD = {"catalogNumber": "K000123", "institutionCode": "K", "scientificName": "Bellis perennis L.",
          "recordedBy": "J. Smith", "eventDate": "1887-05-02", "country": "United Kingdom"}


@pytest.mark.django_db(transaction=True)
def test_two_open_transactions_meeting_the_same_new_states_do_not_wait_for_each_other():
    mapping = mapping_set_for("biology")
    states = mapping.states(RECORD)
    other: dict = {}

    def other_transaction():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                other["id"] = mids_assessment_for(mapping, states, {})[0]
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            other["error"] = exc
        finally:
            connection.close()

    with transaction.atomic():  # an import's write transaction, still open
        first, result = mids_assessment_for(mapping, states, {})
        thread = threading.Thread(target=other_transaction)
        thread.start()
        thread.join(20)

    assert "error" not in other, other.get("error")
    assert other["id"] != first  # each wrote its own row without waiting for the other
    # Once both have committed, every lookup takes the first row; its level is the evaluator's.
    again, again_result = mids_assessment_for(mapping, states, {})
    assert again == min(first, other["id"]) and again_result.level == result.level


@pytest.mark.django_db(transaction=True)  # a real transaction, not a savepoint in the test's
def test_many_records_are_assessed_without_jit_and_the_setting_ends_with_the_transaction():
    from specimens.mids import FEW, specimen_mids_assess_ids

    from ..factories.specimens import SpecimenFactory

    ids = [SpecimenFactory(catalog_number=f"J{n}").pk for n in range(FEW + 1)]

    def jit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return cursor.fetchone()[0]

    before = jit()
    with transaction.atomic():
        specimen_mids_assess_ids(specimen_ids=ids)
        assert jit() == "off"  # the 71 state expressions cost more to compile than to run
    assert jit() == before
