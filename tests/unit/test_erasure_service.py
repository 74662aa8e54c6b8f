"""The erasure function's event, the run's time margin, and ``luma forget --stage``'s reading of stack outputs."""

from __future__ import annotations

import pytest
from luma.config import Settings
from luma.erasure.cli import TargetError, settings_from_outputs
from luma.erasure.executor import ErasureIncompleteError, ErasureRun
from luma.erasure.jobs import ErasureJob, JobStatus
from luma.erasure.keys import InvalidSubjectError, Subject
from luma.erasure.service import erasure_function, job_event, parse_event

JOB = "01JABCDEFGHJKMNPQRSTVWXYZ0"
OUTPUTS = {
    "ConnectionsTable": "Luma-staging-DataConnections1",
    "ConversationsTable": "Luma-staging-DataConversations2",
    "UsageTable": "Luma-staging-DataUsage3",
    "ClinicTable": "Luma-staging-DataClinic4",
    "OpenSearchEndpoint": "https://abc123.eu-west-1.aoss.amazonaws.com",
    "MediaBucket": "luma-staging-media",
    "HttpApiUrl": "https://api.example.com",
}


def test_the_event_round_trips_and_a_malformed_one_is_refused() -> None:
    subject = Subject("demo", "u-1")
    job = ErasureJob(JOB, "demo", JobStatus.PENDING, "2026-03-10T00:00:00+00:00")
    event = job_event(job, subject, ["+33612345001"])
    assert parse_event(event) == (subject, JOB, ("+33612345001",))
    for bad in (
        {**event, "userId": "u#1"},
        {**event, "tenantId": ""},
        {**event, "jobId": "nope"},
        {**event, "phones": ["0612"]},
        {**event, "phones": "+33612345001"},
    ):
        with pytest.raises((InvalidSubjectError, ValueError)):
            parse_event(bad)


def test_the_function_name_defaults_to_the_local_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMA_ERASURE_FUNCTION", raising=False)
    assert erasure_function(Settings()) == "erasure"
    monkeypatch.setenv("LUMA_ERASURE_FUNCTION", "luma-staging-erasure")
    assert erasure_function(Settings()) == "luma-staging-erasure"


def test_a_run_keeps_a_margin_of_its_time_and_a_short_one_still_progresses() -> None:
    left = [600.0]
    run = ErasureRun(Subject("demo", "u-1"), time_left=lambda: left[0])
    assert run.margin_s == 30.0
    left[0] = 31.0
    run.check()
    left[0] = 29.0
    with pytest.raises(ErasureIncompleteError):
        run.check()
    short = ErasureRun(Subject("demo", "u-1"), time_left=lambda: 20.0)
    assert short.margin_s == 5.0
    short.check()  # 20 s left of 20: work goes on
    ErasureRun(Subject("demo", "u-1")).check()  # no budget: never stops


def test_stage_outputs_give_tables_index_bucket_and_pack_tables() -> None:
    update = settings_from_outputs(OUTPUTS, region="eu-west-1", media_bucket=None)
    assert update["conversations_table"] == "Luma-staging-DataConversations2"
    assert update["usage_table"] == "Luma-staging-DataUsage3" and update["media_bucket"] == "luma-staging-media"
    assert update["opensearch_service"] == "aoss" and update["dynamodb_endpoint_url"] is None
    assert update["pack_tables"] == {"clinic.data": "Luma-staging-DataClinic4"}
    domain = settings_from_outputs(
        {**OUTPUTS, "OpenSearchEndpoint": "search-x.eu-west-1.es.amazonaws.com"}, region="r", media_bucket="b"
    )
    assert domain["opensearch_url"] == "https://search-x.eu-west-1.es.amazonaws.com"
    assert domain["opensearch_service"] == "es" and domain["media_bucket"] == "b"
    listed = settings_from_outputs(
        {**OUTPUTS, "PackTables": '{"clinic.data": "T1", "shop.orders": "T2"}'}, region="r", media_bucket=None
    )
    assert listed["pack_tables"] == {"clinic.data": "T1", "shop.orders": "T2"}
    with pytest.raises(TargetError, match="MediaBucket"):
        settings_from_outputs({k: v for k, v in OUTPUTS.items() if k != "MediaBucket"}, region="r", media_bucket=None)
    with pytest.raises(TargetError, match="UsageTable"):
        settings_from_outputs({k: v for k, v in OUTPUTS.items() if k != "UsageTable"}, region="r", media_bucket="b")
