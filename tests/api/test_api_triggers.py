"""Webhook triggers against the real server: HMAC, delivery ids, the CEL mapping, an S3 event."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx

from tests.api._support import bearer, wait_state
from tests.api.conftest import TokenFactory
from tests.support.promtool import metric_value

ROOT = Path(__file__).resolve().parents[2]
S3_EVENT = (ROOT / "examples" / "s3-object-created.json").read_bytes()
ECHO = {"type": "step", "name": "t_echo"}
MAPPING = (
    '{"bucket": body.Records[0].s3.bucket.name, "key": body.Records[0].s3.object.key, '
    '"event": headers["x-amz-sns-message-type"]}'
)


def _signed(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Pipeline-Signature": f"sha256={digest}",
        "X-Delivery-Id": delivery,
        "Content-Type": "application/json",
        "x-amz-sns-message-type": "Notification",
    }


async def test_an_s3_object_created_notification_starts_the_pipeline_once(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str], token: TokenFactory
) -> None:
    r = await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": ECHO}, headers=admin
    )
    assert r.status_code in (200, 201), r.text
    url = f"/v1/tenants/{tenant}/triggers/s3-uploads"
    r = await http.put(url, json={"input": MAPPING}, headers=admin)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert secret and r.json()["url"] == f"/v1/triggers/{tenant}/s3-uploads"
    again = await http.put(url, json={"input": MAPPING}, headers=admin)
    assert again.status_code == 200 and again.json()["secret"] is None  # shown once

    deliver = f"/v1/triggers/{tenant}/s3-uploads"
    counted = (await http.get("/metrics")).text
    first = await http.post(deliver, content=S3_EVENT, headers=_signed(secret, S3_EVENT, "d-1"))
    assert first.status_code == 202, first.text
    pid = first.json()["pipeline_id"]
    repeat = await http.post(deliver, content=S3_EVENT, headers=_signed(secret, S3_EVENT, "d-1"))
    assert repeat.status_code == 200 and repeat.json()["pipeline_id"] == pid
    done = await wait_state(http, pid, admin, "SUCCEEDED")
    assert done["result"]["input"] == {
        "bucket": "cultivos-abc-images",
        "key": "crates/2026-12-03/crate-0042.png",
        "event": "Notification",
    }

    # bad, missing or stale signatures, and unknown triggers: 401 alike, nothing created
    before = (await http.get(f"/v1/pipelines?tenant_id={tenant}", headers=admin)).json()
    cases = [
        {"X-Delivery-Id": "d-2"},
        {**_signed(secret, S3_EVENT, "d-2"), "X-Pipeline-Signature": "sha256=" + "0" * 64},
        _signed(secret, S3_EVENT + b" ", "d-2"),
    ]
    for headers in cases:
        refused = await http.post(deliver, content=S3_EVENT, headers=headers)
        assert refused.status_code == 401, refused.text
    unknown = await http.post(
        f"/v1/triggers/{tenant}/nope", content=S3_EVENT, headers=_signed(secret, S3_EVENT, "d-2")
    )
    assert unknown.status_code == 401 and unknown.content == refused.content

    rotated = await http.post(f"{url}/rotate", headers=admin)
    new_secret = rotated.json()["secret"]
    assert new_secret and new_secret != secret
    old = await http.post(deliver, content=S3_EVENT, headers=_signed(secret, S3_EVENT, "d-3"))
    assert old.status_code == 401
    fresh = await http.post(deliver, content=S3_EVENT, headers=_signed(new_secret, S3_EVENT, "d-3"))
    assert fresh.status_code == 202 and fresh.json()["pipeline_id"] != pid
    after = (await http.get(f"/v1/pipelines?tenant_id={tenant}", headers=admin)).json()
    assert len(after["items"]) == len(before["items"]) + 1  # only the good delivery started one

    metrics = (await http.get("/metrics")).text
    name = "pipeline_engine_trigger_deliveries_total"
    moved = {
        outcome: metric_value(metrics, name, outcome=outcome)
        - metric_value(counted, name, outcome=outcome)
        for outcome in ("accepted", "repeated", "refused", "invalid")
    }
    assert moved == {"accepted": 2, "repeated": 1, "refused": 5, "invalid": 0}

    viewer = bearer(token(["operator"], [tenant]))
    assert (await http.put(url, json={}, headers=viewer)).status_code == 403
    other = bearer(token(["admin"], ["someone-else"]))
    assert (await http.post(f"{url}/rotate", headers=other)).status_code == 404


async def test_bad_mappings_and_deliveries_are_422s(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str]
) -> None:
    await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": ECHO}, headers=admin
    )
    url = f"/v1/tenants/{tenant}/triggers/t1"
    bad = await http.put(url, json={"input": "body.x +"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "$.input"
    unknown_var = await http.put(url, json={"input": "settings.x"}, headers=admin)
    assert unknown_var.status_code == 422
    secret = (await http.put(url, json={"input": "body.a.b"}, headers=admin)).json()["secret"]
    deliver = f"/v1/triggers/{tenant}/t1"
    counted = (await http.get("/metrics")).text
    body = json.dumps({"a": {}}).encode()
    missing_key = await http.post(deliver, content=body, headers=_signed(secret, body, "x"))
    assert missing_key.status_code == 422 and missing_key.json()["details"][0]["path"] == "$.input"
    not_json = b"not json"
    r = await http.post(deliver, content=not_json, headers=_signed(secret, not_json, "y"))
    assert r.status_code == 422
    headers = _signed(secret, body, "z")
    del headers["X-Delivery-Id"]
    r = await http.post(deliver, content=body, headers=headers)
    assert r.status_code == 422 and "X-Delivery-Id" in r.text
    # signed but unusable: counted apart from the refused (unsigned or unknown) ones
    metrics = (await http.get("/metrics")).text
    name = "pipeline_engine_trigger_deliveries_total"
    for outcome, n in (("invalid", 3), ("refused", 0), ("accepted", 0)):
        moved = metric_value(metrics, name, outcome=outcome)
        assert moved - metric_value(counted, name, outcome=outcome) == n, outcome
