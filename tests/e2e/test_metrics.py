"""GET /metrics: what an operator's Prometheus sees after people use the service."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import World
from tests.e2e.journeys import dial_home


async def scrape(world: World) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await world.client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_hops_requests_sms_and_the_ledger_are_counted(world: World) -> None:
    before = await scrape(world)
    user = await world.new_user("en", "Mapalo Phiri")
    await dial_home(world, user)
    after = await scrape(world)

    home = value(after, "enerlectra_ussd_hops_total", screen="home", outcome="con")
    assert home == value(before, "enerlectra_ussd_hops_total", screen="home", outcome="con") + 1
    served = value(after, "enerlectra_http_requests_total", route="/ussd", method="POST", status="200")
    assert served >= 1
    # The registration's starting credit went through the ledger; its welcome SMS through the outbox.
    assert value(after, "enerlectra_ledger_transfers") > value(before, "enerlectra_ledger_transfers")
    rows = sum(v for (name, _), v in after.items() if name == "enerlectra_sms_outbox_rows")
    assert rows >= 1
    assert ("enerlectra_pin_queue_pending", ()) in after
    assert value(after, "enerlectra_pin_kdf_runs_total") >= 1, "registering hashed a PIN"


async def test_an_unknown_path_is_counted_under_one_label_not_its_raw_path(world: World) -> None:
    for n in range(3):
        response = await world.client.get(f"/no-such-page-{n}")
        assert response.status == 404
    text = await (await world.client.get("/metrics")).text()
    assert "no-such-page" not in text, "raw paths would let anyone grow the label set"
    assert re.search(r'enerlectra_http_requests_total\{.*route="unmatched".*\} 3\.0', text), text[-2000:]
