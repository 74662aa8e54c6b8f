"""The floor of a fast-path turn, measured on the same moto server as the turns it is compared with.

The recipe of ``shared/tools/floor.py``: one WebSocket round trip to a bare ``websockets`` echo
server on loopback, plus the three key-addressed DynamoDB calls a turn cannot avoid (GetItem the
session, PutItem the inbound message, PutItem the reply). A turn's p50 divided by this floor's p50
says how much the pipeline costs beyond what any implementation pays on this machine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any


def measure_floor(dynamodb_url: str, n: int = 200) -> dict[str, float]:
    """``ws_p50_ms``, ``ddb3_p50_ms``, ``floor_p50_ms``, ``floor_p95_ms`` over ``n`` rounds."""
    import boto3

    ddb = boto3.client(
        "dynamodb", endpoint_url=dynamodb_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    table = "floor-" + uuid.uuid4().hex[:6]
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "s"}, "sk": {"S": "META"}, "v": {"S": "x" * 200}})

    def three_calls() -> None:
        ddb.get_item(TableName=table, Key={"pk": {"S": "s"}, "sk": {"S": "META"}})
        for text in ("hello there", "we open at 8"):
            ddb.put_item(
                TableName=table, Item={"pk": {"S": "s"}, "sk": {"S": "M" + uuid.uuid4().hex}, "t": {"S": text}}
            )

    try:
        return asyncio.run(_rounds(n, three_calls))
    finally:
        ddb.delete_table(TableName=table)


async def _rounds(n: int, three_calls: Any) -> dict[str, float]:
    import websockets

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}") as client:
            ws_ms, ddb_ms, total = [], [], []
            for _ in range(n):
                start = time.perf_counter()
                await client.send('{"action":"sendMessage","text":"hi"}')
                await client.recv()
                w = (time.perf_counter() - start) * 1000
                start = time.perf_counter()
                three_calls()
                d = (time.perf_counter() - start) * 1000
                ws_ms.append(w)
                ddb_ms.append(d)
                total.append(w + d)
    total.sort()
    return {
        "ws_p50_ms": round(statistics.median(ws_ms), 2),
        "ddb3_p50_ms": round(statistics.median(ddb_ms), 2),
        "floor_p50_ms": round(statistics.median(total), 2),
        "floor_p95_ms": round(total[int(0.95 * (len(total) - 1))], 2),
    }
