"""Emulator fixes applied inside the moto server process the local stack starts.

- moto 5.2.5's ``TransactWriteItems`` deep-copies every table a transaction touches before applying
it, so its cost grows with the table (~200 ms per transaction after a few thousand items). Real
DynamoDB has no such cost. This version keeps DynamoDB's semantics — every condition is checked
against the state before the transaction, nothing is written unless all pass, the cancellation
reasons follow the item order — but snapshots only the items the transaction touches.
- moto walks its package folder on every request to find backends; the answer is cached.
- moto checks a conditional write's condition and applies it without a lock between, so concurrent
  requests can both pass a condition only one should; writes and transactions are serialized here.
- Step Functions ``lambda:invoke`` tasks (moto's interpreter, enabled with ``{"stepfunctions":
  {"execute_state_machine": true}, "lambda": {"use_docker": false}}``) reach
  ``LambdaSimpleBackend.invoke``, which only echoes its input. It is replaced by a POST to the
  gateway's Lambda Invoke API (``LUMA_LAMBDA_ENDPOINT_URL``), so the local handlers run; a handler
  that raises comes back as ``X-Amz-Function-Error: Unhandled`` + ``{"errorType", ...}``, which
  moto's interpreter turns into the error name ``errorType``, as AWS does.
- Two Step Functions API fixes: ``StartExecution`` without a ``name`` gets a UUID (moto 5.2.5's
  interpreter builds the ARN ``...:execution:<machine>:None``, the same for every unnamed run), and
  ``SendTaskFailure`` passes its ``cause`` on (moto drops it).
- The interpreter imports ``moto.batch.utils`` (for one enum), and ``moto.batch``'s ``__init__``
  imports its models and EC2's (~0.65 s of the interpreter's ~0.75 s import). ``moto.batch`` is
  registered as a lazy package: its submodules import alone; the first other attribute access
  (a Batch request) runs the real ``__init__``.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import os
import sys
import threading
import types
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import quote

from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import ActionResult, EmptyResult
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
from moto.stepfunctions.responses import StepFunctionResponse

# Loopback calls never go through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


LAMBDA_ENDPOINT_ENV = "LUMA_LAMBDA_ENDPOINT_URL"
# Lambda's own limit; a Task's TimeoutSeconds is enforced by the interpreter, not here.
_INVOKE_TIMEOUT_S = 900.0
_original_lambda_invoke = LambdaSimpleBackend.invoke


class LambdaServiceError(LambdaClientError):
    """The gateway could not be reached (Step Functions sees ``Lambda.ServiceException``)."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServiceException", message)


def lambda_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes | None:
    """Invoke the local handler through the gateway's Lambda Invoke API and relay its answer.

    ``X-Amz-Function-Error`` is copied to moto's response, so boto3 (and the Step Functions
    interpreter) see ``FunctionError`` and the ``{"errorType", "errorMessage"}`` payload.
    """
    endpoint = os.environ.get(LAMBDA_ENDPOINT_ENV)
    if not endpoint:
        return _original_lambda_invoke(self, function_name, qualifier, body, headers, response_headers)
    path = f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"
    if qualifier:
        path += f"?Qualifier={quote(qualifier, safe='')}"
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    invocation_type = (headers.get("X-Amz-Invocation-Type") if headers else None) or "RequestResponse"
    request = urllib.request.Request(  # noqa: S310 - loopback URL from our own environment
        endpoint.rstrip("/") + path,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": invocation_type},
    )
    try:
        with _LOOPBACK.open(request, timeout=_INVOKE_TIMEOUT_S) as response:
            payload: bytes = response.read()
            function_error = response.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise UnknownFunctionException(function_name) from exc
        raise LambdaServiceError(f"the local gateway answered {exc.code} for {function_name}") from exc
    except OSError as exc:
        raise LambdaServiceError(f"the local gateway at {endpoint} is unreachable: {exc}") from exc
    if function_error:
        response_headers["x-amz-function-error"] = function_error
    return payload


def start_execution(self: StepFunctionResponse) -> Any:
    """StartExecution (moto's own), except that an unnamed execution gets a UUID name, as in AWS."""
    execution = self.stepfunction_backend.start_execution(
        self._get_param("stateMachineArn"),
        self._get_param("name") or str(uuid.uuid4()),
        self._get_param("input", if_none="{}"),
    )
    return ActionResult({"executionArn": execution.execution_arn, "startDate": execution.start_date})


def send_task_failure(self: StepFunctionResponse) -> Any:
    """SendTaskFailure with its ``cause`` (moto passes only ``error``)."""
    backend = self.stepfunction_backend
    kwargs: dict[str, Any] = {"error": self._get_param("error")}
    if "cause" in inspect.signature(backend.send_task_failure).parameters:  # the interpreter's backend
        kwargs["cause"] = self._get_param("cause")
    backend.send_task_failure(self._get_param("taskToken"), **kwargs)
    return EmptyResult()


class _LazyPackage(types.ModuleType):
    """A package whose ``__init__`` runs on the first access to an attribute it does not have yet."""

    _lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        with self._lock:
            real = sys.modules.get(self.__name__)
            if real is self:
                spec = self.__spec__
                assert spec is not None and spec.loader is not None
                real = importlib.util.module_from_spec(spec)
                real.__dict__.update({k: v for k, v in self.__dict__.items() if isinstance(v, types.ModuleType)})
                sys.modules[self.__name__] = real
                try:
                    spec.loader.exec_module(real)
                except BaseException:
                    sys.modules[self.__name__] = self
                    raise
                parent, _, child = self.__name__.rpartition(".")
                setattr(sys.modules[parent], child, real)
        return getattr(real, name)


def _defer_package_init(name: str) -> None:
    """Register ``name`` as a :class:`_LazyPackage` unless it is imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        return
    stub = _LazyPackage(name)
    stub.__spec__ = spec
    stub.__path__ = list(spec.submodule_search_locations)
    stub.__file__ = spec.origin
    stub.__package__ = name
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, stub)


# moto serves requests on several threads and checks a write's condition before applying it, with
# nothing in between: two conditional writes of one item (or two transactions) can both pass. DynamoDB
# applies each write (and each transaction) atomically; one lock around the write paths does the same.
_WRITE_LOCK = threading.RLock()
_ATOMIC_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _atomic(method: Any) -> Any:
    if getattr(method, "_luma_atomic", False):
        return method

    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return method(self, *args, **kwargs)

    locked._luma_atomic = True  # type: ignore[attr-defined]
    locked.__name__ = getattr(method, "__name__", "write")
    locked.__doc__ = getattr(method, "__doc__", None)
    return locked


def apply() -> None:
    """Install the patches (idempotent)."""
    import moto.backends

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in _ATOMIC_WRITES:
        setattr(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name)))
    LambdaSimpleBackend.invoke = lambda_invoke  # type: ignore[method-assign,assignment]
    StepFunctionResponse.start_execution = start_execution  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    _defer_package_init("moto.batch")
    # moto lists its own package folder (listdir + ~50 stats) on every request; the list never changes.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)
