"""``luma forget --tenant T --user U``: erase one user's data now, with progress on stderr.

Runs the same job as ``DELETE /api/me`` (the user's job in progress if there is one), synchronously:
against a running local stack by default (its endpoints from ``GET /dev/info``), or against a deployed
stage with ``--stage`` (table names, OpenSearch endpoint and media bucket from the ``Luma-<stage>`` stack's
outputs, with the caller's AWS credentials). Prints the finished job as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from luma.config import Settings, get_settings

LOCAL_URL = "http://127.0.0.1:8787"
LOCAL_MEDIA_BUCKET = "luma-media-local"  # what `luma dev` creates in moto's S3
_CORE_OUTPUTS = {
    "ConnectionsTable": "connections_table",
    "ConversationsTable": "conversations_table",
    "UsageTable": "usage_table",
}


class TargetError(Exception):
    """The stack to erase from could not be reached or described."""


def local_settings(base: Settings, url: str, media_bucket: str | None = None) -> Settings:
    """Settings pointing at a running local stack (``GET <url>/dev/info``)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/dev/info", timeout=5) as resp:  # noqa: S310 (http(s) only)
            info: dict[str, Any] = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise TargetError(
            f"no local stack answered at {url} ({type(exc).__name__}): start it with `luma dev`"
        ) from None
    endpoint = info.get("dynamodbEndpoint")
    if not endpoint:
        raise TargetError(f"{url}/dev/info names no dynamodbEndpoint")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")  # the emulator takes any credentials
    return base.model_copy(
        update={
            "dynamodb_endpoint_url": endpoint,
            "s3_endpoint_url": endpoint,  # the moto server serves S3 too
            "media_bucket": media_bucket or info.get("mediaBucket") or base.media_bucket or LOCAL_MEDIA_BUCKET,
            "opensearch_url": info.get("openSearchUrl"),
            "opensearch_service": "es",
            "opensearch_sigv4": False,
        }
    )


def stage_settings(base: Settings, stage: str, region: str | None, media_bucket: str | None) -> Settings:
    """Settings for a deployed stage, from its stack's outputs (the memory index keeps its default name)."""
    from luma.aws import client

    region = region or base.region
    try:
        stacks = client("cloudformation", region=region).describe_stacks(StackName=f"Luma-{stage}")["Stacks"]
    except Exception as exc:
        raise TargetError(f"stack Luma-{stage} could not be described in {region} ({type(exc).__name__})") from None
    outputs: Mapping[str, str] = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return base.model_copy(update=settings_from_outputs(outputs, region=region, media_bucket=media_bucket))


def settings_from_outputs(outputs: Mapping[str, str], *, region: str, media_bucket: str | None) -> dict[str, Any]:
    """The settings a stack's outputs give (tables, OpenSearch, media bucket); pack tables from ``<Pack>Table``."""
    missing = [name for name in _CORE_OUTPUTS if name not in outputs]
    if missing:
        raise TargetError(f"the stack has no {', '.join(missing)} output")
    bucket = media_bucket or outputs.get("MediaBucket")
    if not bucket:
        raise TargetError("the stack has no MediaBucket output: pass --media-bucket")
    update: dict[str, Any] = {attr: outputs[name] for name, attr in _CORE_OUTPUTS.items()}
    endpoint = outputs.get("OpenSearchEndpoint")
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    host = urlsplit(endpoint or "").hostname or ""
    update.update(
        region=region,
        dynamodb_endpoint_url=None,
        s3_endpoint_url=None,
        media_bucket=bucket,
        opensearch_url=endpoint,
        opensearch_service="aoss" if host.endswith(".aoss.amazonaws.com") else "es",
        opensearch_sigv4=None,
        pack_tables=_pack_tables(outputs),
    )
    return update


def _pack_tables(outputs: Mapping[str, str]) -> dict[str, str]:
    """``LUMA_PACK_TABLES`` from the ``PackTables`` output (JSON), else from ``<Pack>Table`` outputs."""
    raw = outputs.get("PackTables")
    if raw:
        try:
            value = json.loads(raw)
        except ValueError:
            raise TargetError("the stack's PackTables output is not JSON") from None
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    return {
        f"{name[: -len('Table')].lower()}.data": value
        for name, value in outputs.items()
        if name.endswith("Table") and name not in _CORE_OUTPUTS
    }


def _confirm(tenant: str, user: str, where: str) -> bool:
    if not sys.stdin.isatty():
        print("refusing to erase without --yes (stdin is not a terminal)", file=sys.stderr)
        return False
    print(
        f"This erases every message, session, memory, image and record of user {user!r} of tenant {tenant!r}",
        file=sys.stderr,
    )
    print(f"at {where}. It cannot be undone. Type the user id to confirm: ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip() == user


def main(argv: list[str] | None = None) -> int:
    """``luma forget --tenant T --user U [--yes] [--phone +E164 ...] [--url URL | --stage S [--region R]]``."""
    parser = argparse.ArgumentParser(prog="luma forget", description=__doc__)
    parser.add_argument("--tenant", required=True, help="the user's tenant, e.g. demo")
    parser.add_argument("--user", required=True, help="the user id, e.g. u-alice")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--phone",
        action="append",
        default=[],
        help="an E.164 number whose channel pointers to erase too, when they name this user (repeatable); "
        "the user's linked numbers are found without it",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", default=None, help=f"a running local stack (default {LOCAL_URL})")
    target.add_argument("--stage", help="a deployed stage (reads the Luma-<stage> stack's outputs)")
    parser.add_argument("--region", help="the stage's region (default: AWS_REGION)")
    parser.add_argument("--media-bucket", help="the media bucket, when the target does not name it")
    parser.add_argument(
        "--no-usage-scan",
        action="store_true",
        help="skip the filtered Scan of the usage table (records of messages never stored then expire by TTL)",
    )
    args = parser.parse_args(argv)

    from luma.erasure.executor import ErasureExecutor
    from luma.erasure.jobs import ErasureJobs, JobStatus
    from luma.erasure.keys import InvalidSubjectError, Subject, check_phone
    from luma.erasure.service import run_job

    try:
        subject = Subject(args.tenant, args.user)
        phones = [check_phone(p) for p in args.phone]
    except InvalidSubjectError as exc:
        parser.error(str(exc))
    base = get_settings()
    try:
        if args.stage:
            settings = stage_settings(base, args.stage, args.region, args.media_bucket)
            where = f"stage {args.stage}"
        else:
            url = args.url or LOCAL_URL
            settings = local_settings(base, url, args.media_bucket)
            where = f"the local stack at {url}"
    except TargetError as exc:
        print(f"luma forget: {exc}", file=sys.stderr)
        return 2
    if not args.yes and not _confirm(subject.tenant_id, subject.user_id, where):
        return 1

    jobs = ErasureJobs(settings)
    job, created = jobs.start(subject)
    print(f"erasure job {job.job_id} ({'new' if created else 'already in progress'}) at {where}", file=sys.stderr)

    def progress(step: str, counts: Mapping[str, int]) -> None:
        done = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v) or "nothing yet"
        print(f"  {step:<12} done ({done})", file=sys.stderr, flush=True)

    executor = ErasureExecutor(settings, scan_usage=not args.no_usage_scan)
    try:
        job = run_job(settings, subject, job.job_id, jobs=jobs, executor=executor, phones=phones, progress=progress)
    except Exception as exc:
        print(f"luma forget: the job failed ({type(exc).__name__}); run the command again to resume", file=sys.stderr)
        failed = jobs.get(subject, job.job_id)
        print(json.dumps(failed.to_json() if failed else {"jobId": job.job_id, "status": "failed"}))
        return 1
    for note in job.notes:
        print(f"  note: {note}", file=sys.stderr)
    print(json.dumps(job.to_json()))
    return 0 if job.status is JobStatus.DONE else 1


if __name__ == "__main__":
    raise SystemExit(main())
