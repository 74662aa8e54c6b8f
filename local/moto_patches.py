"""Emulator fixes applied inside the moto server process the local stack starts.

- moto 5.2.5's ``TransactWriteItems`` deep-copies every table a transaction touches before applying
it, so its cost grows with the table (~200 ms per transaction after a few thousand items). Real
DynamoDB has no such cost. This version keeps DynamoDB's semantics — every condition is checked
against the state before the transaction, nothing is written unless all pass, the cancellation
reasons follow the item order — but snapshots only the items the transaction touches.
- moto walks its package folder on every request to find backends; the answer is cached.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All-or-nothing TransactWriteItems that snapshots only the touched items."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise MockValidationException("Unsupported transaction operation")
        key = _key_of(self, op_type, op)
        ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if ident in seen:
            raise MultipleTransactionsException()
        seen.add(ident)
        ops.append((op_type, op, key))

    # 1. Every condition against the state before the transaction.
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    before: list[Item | None] = []
    for _op_type, op, key in ops:
        current = self.get_item(op["TableName"], key)
        before.append(copy.deepcopy(current))
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = (
                    current.to_json()["Attributes"]
                    if (current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")
                    else None
                )
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # 2. Apply; on any failure put the touched items back as they were.
    applied = 0
    try:
        for op_type, op, key in ops:
            table_name = op["TableName"]
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            applied += 1
    except ConditionalCheckFailed:
        raise
    except Exception:
        for (op_type, op, key), old in list(zip(ops, before, strict=True))[: applied + 1]:
            if op_type == "ConditionCheck":
                continue
            if old is None:
                self.delete_item(op["TableName"], key)
            else:
                self.put_item(op["TableName"], old.to_json()["Attributes"])
        raise


def apply() -> None:
    """Install the patches (idempotent)."""
    import moto.backends

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    # moto lists its own package folder (listdir + ~50 stats) on every request; the list never changes.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)
