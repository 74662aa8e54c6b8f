"""Emulator fixes applied inside the moto server process the local stack starts.

- moto 5.2.5's ``TransactWriteItems`` deep-copies every table a transaction touches before applying
it, so its cost grows with the table (~200 ms per transaction after a few thousand items). Real
DynamoDB has no such cost. This version keeps DynamoDB's semantics — every condition is checked
against the state before the transaction, nothing is written unless all pass, the cancellation
reasons follow the item order — but snapshots only the items the transaction touches.
- moto 5.2.5's ``Query`` lists and sorts every item of the table (``Table.all_items``) to answer it,
  so each Query costs O(n log n) in the table's size: with a few tens of thousands of items the
  emulator spends most of its time there. Here a Query on the table reads only its partition, and
  a Query on an index walks the items unsorted, keeping those whose index key matches (moto sorts
  the matches itself); results, order and pagination are moto's.
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
- The interpreter builds a new boto3 client for every task it runs (``boto_client_for``: ~15 ms of
  botocore set-up, and a default session that is not thread-safe), and parses the state machine's
  definition with ANTLR at every execution start. Clients are kept per region and service; the
  parse tree of a definition is kept (at most a few) and each execution still gets fresh
  evaluation components from it (the tree is only read).
- The interpreter imports ``moto.batch.utils`` (for one enum), and ``moto.batch``'s ``__init__``
  imports its models and EC2's (~0.65 s of the interpreter's ~0.75 s import). ``moto.batch`` is
  registered as a lazy package: its submodules import alone; the first other attribute access
  (a Batch request) runs the real ``__init__``.
"""

from __future__ import annotations

import copy
import importlib
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
from moto.dynamodb.models.table import Table
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
    _patch_stepfunctions_interpreter()
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
_QUERY_SCOPE = threading.local()


def _query(original: Any) -> Any:
    """``Table.query`` whose ``all_items`` holds only what the query can match (see the module doc)."""
    if getattr(original, "_luma_scoped", False):
        return original
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        _QUERY_SCOPE.scope = (
            bound.arguments.get("index_name"),
            bound.arguments.get("hash_key"),
            bound.arguments.get("hash_key_conditions") or [],
        )
        try:
            return original(self, *args, **kwargs)
        finally:
            _QUERY_SCOPE.scope = None

    query._luma_scoped = True  # type: ignore[attr-defined]
    query.__doc__ = original.__doc__
    return query


def _all_items(original: Any) -> Any:
    """``Table.all_items``: inside a Query, the items it can match; elsewhere moto's sorted list."""
    if getattr(original, "_luma_scoped", False):
        return original

    def all_items(self: Any) -> list[Any]:
        scope = getattr(_QUERY_SCOPE, "scope", None)
        if scope is None:
            return original(self)
        index_name, hash_key, conditions = scope
        if not index_name:
            if hash_key is None:
                return original(self)
            partition = self.items.get(hash_key)
            if partition is None:
                return []
            return list(partition.values()) if self.range_key_attr else [partition]
        items = [i for h in list(self.items.values()) for i in (list(h.values()) if self.range_key_attr else [h])]
        for name, want in conditions:
            if want.type in ("S", "B"):  # exact-value types: a cheap pre-filter, moto checks again
                items = [i for i in items if (v := i.attrs.get(name)) is not None and v.value == want.value]
        return items

    all_items._luma_scoped = True  # type: ignore[attr-defined]
    return all_items


_SFN_LOCK = threading.Lock()
_SFN_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
)


def _shared_boto_client_for(original: Any) -> Any:
    """``boto_client_for`` that builds one client per (region, service) and hands it out again."""
    if getattr(original, "_luma_shared", False):
        return original
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service)
        found = clients.get(key)
        if found is None:
            with lock:
                found = clients.get(key)
                if found is None:
                    found = clients[key] = original(region, service, state_credentials)
        return found

    boto_client_for._luma_shared = True  # type: ignore[attr-defined]
    return boto_client_for


_PARSE_TREES: dict[str, Any] = {}
_PARSE_TREES_MAX = 16


def _cached_parse(original: Any) -> Any:
    """``AmazonStateLanguageParser.parse`` that parses a definition once, then only preprocesses its tree."""
    if getattr(original, "_luma_cached", False):
        return original
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    def parse(definition: str) -> tuple[Any, Any]:
        tree = _PARSE_TREES.get(definition)
        if tree is not None:
            return Preprocessor().visit(tree), tree
        program, tree = original(definition)  # raises on a syntax error: nothing is kept
        if len(_PARSE_TREES) >= _PARSE_TREES_MAX:
            _PARSE_TREES.pop(next(iter(_PARSE_TREES)), None)
        _PARSE_TREES[definition] = tree
        return program, tree

    parse._luma_cached = True  # type: ignore[attr-defined]
    return parse


_INTERPRETER_PATCHED = threading.Event()


def _patch_stepfunctions_interpreter() -> None:
    """Share the interpreter's clients and parse trees; at the first execution (its modules load late)."""
    if _INTERPRETER_PATCHED.is_set():
        return
    with _SFN_LOCK:
        if not _INTERPRETER_PATCHED.is_set():
            _install_interpreter_patches()
            _INTERPRETER_PATCHED.set()


def _install_interpreter_patches() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import boto_client

    AmazonStateLanguageParser.parse = staticmethod(_cached_parse(AmazonStateLanguageParser.parse))  # type: ignore[method-assign]
    shared = _shared_boto_client_for(boto_client.boto_client_for)
    boto_client.boto_client_for = shared  # type: ignore[assignment]
    for name in _SFN_CLIENT_USERS:
        module = importlib.import_module(name)
        if hasattr(module, "boto_client_for"):
            module.boto_client_for = shared  # type: ignore[attr-defined]


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
    Table.query = _query(Table.query)  # type: ignore[method-assign]
    Table.all_items = _all_items(Table.all_items)  # type: ignore[method-assign]
    LambdaSimpleBackend.invoke = lambda_invoke  # type: ignore[method-assign,assignment]
    StepFunctionResponse.start_execution = start_execution  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    _defer_package_init("moto.batch")
    # moto lists its own package folder (listdir + ~50 stats) on every request; the list never changes.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)
