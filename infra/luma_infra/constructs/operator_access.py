"""What a person running ``luma dlq list|redrive`` against a stage needs, as one managed policy.

The stack attaches it to nobody: the deployer attaches ``luma-<stage>-dlq-operator`` (output
``DlqOperatorPolicyArn``) to an operations role or group. It allows exactly what ``luma.ops.dlq``
calls: finding the queues by name (``ListQueues`` has no resource-level permissions), reading,
hiding and deleting their messages, re-reading a failed stream batch from the table's stream, and
invoking the function the message belongs to. A FIFO queue's dead-letter queue (``<function>-queue-dlq``)
is moved back to its queue with SQS's own redrive (``StartMessageMoveTask``), which keeps the order.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.data import Data
from luma_infra.constructs.functions import LumaFunction
from luma_infra.nag import acknowledge

# SQS authorizes the batch calls (DeleteMessageBatch, ChangeMessageVisibilityBatch) with these actions.
QUEUE_ACTIONS = (
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
)
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")


class DlqOperatorPolicy(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        functions: dict[str, LumaFunction],
        data: Data,
    ) -> None:
        super().__init__(scope, construct_id)
        with_dlqs = [fn for _, fn in sorted(functions.items()) if fn.dlqs]
        queues = [q.queue_arn for fn in with_dlqs for _, q in sorted(fn.dlqs.items())]
        streams = sorted(
            {fn.spec.stream.table for fn in with_dlqs if fn.spec.stream is not None and "stream" in fn.dlqs}
        )
        region = Stack.of(self).region
        statements = [
            iam.PolicyStatement(sid="FindQueuesByName", actions=["sqs:ListQueues"], resources=["*"]),
        ]
        if queues:
            statements.append(
                iam.PolicyStatement(sid="DeadLetterQueues", actions=list(QUEUE_ACTIONS), resources=queues)
            )
            statements.append(
                iam.PolicyStatement(
                    sid="RedriveToTheirFunctions",
                    actions=["lambda:InvokeFunction"],
                    resources=[fn.invoke_arn for fn in with_dlqs],
                )
            )
        fifo = [fn for fn in with_dlqs if fn.queue is not None and "queue" in fn.dlqs]
        if fifo:
            statements.append(
                iam.PolicyStatement(
                    sid="MoveFifoDeadLettersBack",
                    actions=["sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask"],
                    resources=[fn.dlqs["queue"].queue_arn for fn in fifo],
                )
            )
            statements.append(
                iam.PolicyStatement(
                    sid="IntoTheirQueues",
                    actions=["sqs:SendMessage"],
                    resources=[fn.queue.queue_arn for fn in fifo if fn.queue is not None],
                )
            )
        if streams:
            statements.append(
                iam.PolicyStatement(
                    sid="RereadFailedStreamBatches",
                    actions=list(STREAM_ACTIONS),
                    resources=[data.tables[t].table_stream_arn for t in streams],  # type: ignore[misc]
                )
            )
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptStreamRecords",
                    actions=["kms:Decrypt", "kms:DescribeKey"],
                    resources=[data.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
                )
            )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=stage.prefix("dlq-operator"),
            description=f"Luma {stage.name}: `luma dlq list|redrive` (attach to an operations role)",
            statements=statements,
        )
        acknowledge(
            self.policy,
            "IAM5",
            "sqs:ListQueues supports no resource-level permissions (AWS requires Resource '*'); it lists "
            "queue URLs only, and every action on a queue is limited to this stage's dead-letter queues.",
            "Resource::*",
        )
