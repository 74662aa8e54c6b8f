"""cdk-nag (v3: a CDK policy-validation plugin) and the acknowledgment helper.

Every acknowledgment is made next to the resource it is about, with its reason, through
:func:`acknowledge`. Rules that report several findings (IAM5) are acknowledged one finding at
a time (``AwsSolutions-IAM5[Resource::*]``): a new wildcard is never silently accepted.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_checks(app: IConstruct) -> None:
    """Run the AwsSolutions pack on the whole app at synth time (violations fail the synth)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge ``AwsSolutions-<rule>`` (or only the given findings of it) on ``construct``."""
    ids = [f"{PACK}-{rule}[{finding}]" for finding in findings] if findings else [f"{PACK}-{rule}"]
    Validations.of(construct).acknowledge(*[Acknowledgment(id=i, reason=reason) for i in ids])


def flatten(scope: IConstruct, value: Any) -> str:
    """A token as cdk-nag names it in a finding (``<Logical.Attr>``, ``<AWS::Region>``, ...)."""
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: Any) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def resource_finding(scope: IConstruct, resource: Any) -> str:
    """The IAM5 finding id for a wildcard resource ARN (a string or a token)."""
    return f"Resource::{flatten(scope, resource)}"
