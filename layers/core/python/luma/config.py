"""One settings model for every environment variable, model ID and limit.

Validated once per process (at Lambda cold start) through :func:`get_settings`; nothing reads
``os.environ`` elsewhere. Clients are built lazily from these values, never at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class TenantAssistants(BaseModel):
    """Which assistant packs a tenant may use, and its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: list[str] = Field(default_factory=list)
    default: str | None = None


class NumberRoute(BaseModel):
    """What one of our Twilio numbers serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    assistant: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _tenant_only(cls, value: Any) -> Any:
        return {"tenant": value} if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every knob Luma reads from its environment (prefix ``LUMA_`` unless noted)."""

    model_config = SettingsConfigDict(env_prefix="LUMA_", extra="ignore", frozen=True)

    env: Literal["local", "test", "aws"] = "local"
    region: str = Field("us-east-1", validation_alias=AliasChoices("LUMA_REGION", "AWS_REGION"))
    service_name: str = "luma"
    # Assistant packs (entry points ``luma.assistants``): the default one, the ones served (empty:
    # every installed pack), and per tenant which ones it may use and its default, JSON
    # {"<tenant>": {"allowed": ["shop", "support"], "default": "shop"}}.
    assistant: str | None = None
    assistants: list[str] = Field(default_factory=list)
    tenant_assistants: dict[str, TenantAssistants] = Field(default_factory=dict)

    # DynamoDB tables (names come from CDK outputs in AWS).
    connections_table: str = "luma-connections"
    conversations_table: str = "luma-conversations"
    usage_table: str = "luma-usage"
    # Tables of the assistant packs' own data, ``<pack>.<table>`` -> name (CDK sets them as JSON);
    # a table not listed is ``<pack_table_prefix>-<pack>-<table>``.
    pack_tables: dict[str, str] = Field(default_factory=dict)
    pack_table_prefix: str = "luma"
    dynamodb_endpoint_url: str | None = None
    # HTTP connections each AWS client (boto3 and PynamoDB) keeps open: a Lambda process serves one
    # request at a time; the local stack runs every function's threads in one process.
    aws_max_pool_connections: int = Field(10, gt=0, le=1000)

    # Other AWS endpoints; None means the real AWS endpoint for the region.
    lambda_endpoint_url: str | None = None
    # API Gateway management endpoint; None means https://{domainName}/{stage} from the event.
    ws_management_endpoint: str | None = None
    fast_path_function: str = "fast_path"
    # Path prefix the HTTP API is served under ("/api" on the local gateway, "" behind API Gateway).
    http_root_path: str = ""

    # Authentication of web and mobile clients.
    auth_mode: Literal["dev", "cognito"] = "dev"
    dev_jwt_secret: SecretStr | None = None
    jwt_issuer: str = "luma-dev"
    jwt_audience: str = "luma"
    dev_token_ttl_s: int = Field(12 * 3600, gt=0)
    cognito_jwks_url: str | None = None

    # Conversation limits.
    session_inactivity_s: int = Field(7 * 3600, gt=0)
    max_text_chars: int = Field(2000, gt=0, le=30000)
    message_retention_days: int = Field(365, gt=0)
    idempotency_ttl_s: int = Field(24 * 3600, gt=0)
    connection_ttl_s: int = Field(3 * 3600, gt=0)
    page_size_max: int = Field(100, gt=0, le=1000)

    # Identity checks of the packs that verify users: failed attempts per (tenant, user) and per
    # (tenant, claimed identity) before a lockout of identity_lockout_s, in every session.
    identity_max_attempts: int = Field(3, gt=0)
    identity_lockout_s: int = Field(3600, gt=0)

    # Intent classifier: model files default to the installed packages.
    classifier_model_path: str | None = None
    classifier_tokenizer_path: str | None = None
    classifier_threads: int = Field(1, gt=0)
    # Where fitted classifiers and exemplar vectors are cached (default: ~/.cache/luma, /tmp in Lambda).
    classifier_cache_dir: str | None = None

    # LLM providers (unprefixed, the names every SDK uses). Any one switches the agent on.
    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")

    # LLM ------------------------------------------------------------------------------------
    # Provider choice, model IDs per profile, resilience and prices (luma.llm). Added by issue 3.
    anthropic_base_url: str | None = Field(None, validation_alias="ANTHROPIC_BASE_URL")
    # "auto": Anthropic when its key is set, else OpenAI (key or OPENAI_BASE_URL); the other one,
    # when also configured and llm_fallback is on, becomes the fallback.
    llm_provider: Literal["auto", "anthropic", "openai"] = "auto"
    llm_fallback: bool = True
    llm_model_anthropic: str = "claude-sonnet-4-5"
    llm_model_openai: str = "gpt-4.1-mini"
    llm_max_tokens: int = Field(1024, gt=0)
    llm_connect_timeout_s: float = Field(3.0, gt=0)
    # Longest silence allowed while reading (also bounds the wait for the first token).
    llm_read_timeout_s: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_backoff_base_s: float = Field(0.5, ge=0)
    llm_backoff_max_s: float = Field(8.0, ge=0)
    # A retry-after longer than this is not waited for: the error goes to the caller instead.
    llm_retry_after_max_s: float = Field(20.0, ge=0)
    llm_breaker_threshold: int = Field(5, gt=0)
    llm_breaker_cooldown_s: float = Field(30.0, gt=0)
    # USD per million tokens, keyed by model ID prefix (longest prefix wins); JSON in the env var.
    llm_prices: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "claude-sonnet-4": {"input": 3.0, "output": 15.0, "cache_read": 0.30, "cache_write": 3.75},
            "claude-haiku-4": {"input": 1.0, "output": 5.0, "cache_read": 0.10, "cache_write": 1.25},
            "claude-opus-4": {"input": 15.0, "output": 75.0, "cache_read": 1.50, "cache_write": 18.75},
            "gpt-4.1-mini": {"input": 0.40, "output": 1.60, "cache_read": 0.10, "cache_write": 0.0},
            "gpt-4.1": {"input": 2.0, "output": 8.0, "cache_read": 0.50, "cache_write": 0.0},
            "gpt-4o-mini": {"input": 0.15, "output": 0.60, "cache_read": 0.075, "cache_write": 0.0},
        }
    )
    # ---------------------------------------------------------------------------------- LLM end

    # Agent runs -----------------------------------------------------------------------------
    # Step Functions (the agent_run state machine) and the agent's limits (luma.agent). Issue 3.
    stepfunctions_endpoint_url: str | None = None
    # Set by CDK (LUMA_AGENT_RUN_STATE_MACHINE_ARN) and by the local stack; None = agent runs off.
    agent_run_state_machine_arn: str | None = None
    # Overrides of luma.agent.limits.AgentLimits, JSON: {"max_iterations": 4, "intents": {"x": {...}}}.
    agent_limits: dict[str, Any] = Field(default_factory=dict)
    # ------------------------------------------------------------------------------ Agent runs end

    # Twilio ---------------------------------------------------------------------------------
    # WhatsApp/SMS channel (luma.channels.twilio). In AWS the auth token comes from Secrets Manager.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # Sender address of replies, e.g. "whatsapp:+14155238886" or "+15005550006".
    twilio_from_number: str | None = None
    # REST API base URL; None means https://api.twilio.com (the local stack points it at the fake).
    twilio_api_base_url: str | None = None
    # Public base URL Twilio calls (custom domain, tunnel); None rebuilds it from the event.
    twilio_public_base_url: str | None = None
    twilio_max_body_bytes: int = Field(64 * 1024, gt=0)
    twilio_timeout_s: float = Field(10.0, gt=0)
    # Secrets Manager secret set by CDK (JSON: account_sid, auth_token, whatsapp_from, sms_from);
    # the values above, when set (local stack, tests), take precedence over the secret's.
    twilio_secret_arn: str | None = None
    # The function the webhook hands turns to (async invoke; CDK sets LUMA_CLASSIFY_FUNCTION).
    classify_function: str = "classify"
    # Tenant and assistant of each of our Twilio numbers, JSON
    # {"+14155238886": {"tenant": "demo", "assistant": "support"}} (E.164, no channel prefix; the
    # older {"+14155238886": "demo"} means the tenant's default assistant); a number not listed
    # belongs to twilio_default_tenant (None: the webhook refuses it).
    twilio_numbers: dict[str, NumberRoute] = Field(default_factory=dict)
    twilio_default_tenant: str | None = None
    # A sender with no phone link: "reply" (a polite answer, nothing stored) or "anonymous" (a
    # pseudonymous user per phone number); per-tenant overrides as JSON {"<tenant>": "anonymous"}.
    twilio_unknown_sender: Literal["reply", "anonymous"] = "reply"
    twilio_unknown_sender_tenants: dict[str, Literal["reply", "anonymous"]] = Field(default_factory=dict)
    # Media: images are stored in S3 (bucket set by CDK; locally moto's S3 on the moto server), voice
    # notes transcribed with OpenAI's API when OPENAI_API_KEY or OPENAI_BASE_URL is set.
    media_bucket: str | None = None
    s3_endpoint_url: str | None = None
    twilio_media_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    twilio_media_max_count: int = Field(3, gt=0, le=10)  # attachments processed per message
    twilio_audio_max_s: int = Field(120, gt=0)  # longest voice note transcribed
    # MessageSid idempotency records live this long (Twilio retries and late duplicates).
    twilio_idempotency_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    # Content SIDs of the generic interactive templates (luma_quick_reply_1..3, luma_list_picker_1..10),
    # JSON {"luma_quick_reply_3": "HX..."}: set in production so functions never create templates.
    twilio_content_sids: dict[str, Annotated[str, StringConstraints(pattern=r"^HX[0-9a-fA-F]{32}$")]] = Field(
        default_factory=dict
    )
    # Replies to senders with no account (SMS pumping): per minute, for all and per country code.
    twilio_unknown_replies_per_minute: int = Field(30, ge=0)
    twilio_unknown_replies_per_country_per_minute: int = Field(10, ge=0)
    transcription_model: str = "gpt-4o-mini-transcribe"
    # A failed send is retried by a redelivery event (remaining parts only) at most this many times
    # before Lambda's own async retries and the DLQ take over.
    twilio_redelivery_max: int = Field(3, ge=0)
    # ------------------------------------------------------------------------------- Twilio end

    # Rate limits ------------------------------------------------------------------------------
    # Token buckets per user and per source IP (luma.limits); credits per plan are in luma.usage.
    # A bucket holds `burst` tokens (default: the per-minute figure) and refills per_minute/60 a
    # second; 0 disables a limit.
    rate_limit_user_per_minute: int = Field(30, ge=0)
    rate_limit_user_burst: int | None = Field(None, gt=0)
    rate_limit_ip_per_minute: int = Field(120, ge=0)
    rate_limit_ip_burst: int | None = Field(None, gt=0)
    # Days a user's daily credit counters are kept after their day.
    quota_ttl_days: int = Field(3, gt=0)
    # Per-tenant overrides, JSON: {"<tenant>": {"user_per_minute": 30, "user_burst": 10,
    # "ip_per_minute": 120, "ip_burst": 120}} (any subset of the keys).
    rate_limits: dict[str, dict[str, int]] = Field(default_factory=dict)
    # Idle-session sweeper (functions/session_sweeper, on a schedule): sessions idle longer than
    # session_inactivity_s are closed with their report, at most this many per run (the rest next run).
    session_sweep_max: int = Field(500, gt=0)

    @field_validator("rate_limits")
    @classmethod
    def _known_limit_keys(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        known = {"user_per_minute", "user_burst", "ip_per_minute", "ip_burst"}
        for tenant, limits in value.items():
            unknown = set(limits) - known
            if unknown:
                raise ValueError(f"LUMA_RATE_LIMITS[{tenant!r}]: unknown keys {sorted(unknown)}")
            if any(v < 0 for v in limits.values()):
                raise ValueError(f"LUMA_RATE_LIMITS[{tenant!r}]: limits must be >= 0")
        return value

    # ------------------------------------------------------------------ Rate limits and quotas end

    # Security -------------------------------------------------------------------------------
    # Keys from Secrets Manager, signing keys, the CloudFront origin check (luma.secrets). Issue 12.
    # LLM provider keys (JSON ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENAI_BASE_URL), set by CDK; keys
    # set directly (local stack, tests) take precedence over the secret's.
    llm_secret_arn: str | None = None
    # Root of the keys that sign page cursors and pepper pseudonymous ids: a generated secret in AWS
    # (JSON {"key": ...}); locally LUMA_SIGNING_SECRET, else the dev token key (.luma/dev-secret).
    signing_secret_arn: str | None = None
    signing_secret: SecretStr | None = None
    # Both APIs sit behind CloudFront + WAF in AWS; CloudFront adds this secret (JSON {"current",
    # "previous"}) as a header, and requests without it are refused. None: not checked (local stack).
    origin_verify_secret_arn: str | None = None
    # Set by the Lambda runtime: with no explicit LUMA_ENV, it means "running in AWS".
    lambda_function_name: str | None = Field(None, validation_alias="AWS_LAMBDA_FUNCTION_NAME")
    # ------------------------------------------------------------------------------ Security end

    # OpenSearch -----------------------------------------------------------------------------
    # Long-term memory's search index (luma.memory.vectors); the memory items in DynamoDB are the
    # source of truth. None: no index (memory retrieval off).
    opensearch_url: str | None = None
    # "es": a managed domain; "aoss": Serverless (no custom document ids, _refresh or _delete_by_query).
    opensearch_service: Literal["es", "aoss"] = "es"
    # SigV4 with the function's credentials; None: sign when the host ends in .amazonaws.com.
    opensearch_sigv4: bool | None = None
    opensearch_timeout_s: float = Field(5.0, gt=0)
    opensearch_max_retries: int = Field(2, ge=0, le=10)
    memory_index: str = Field("luma-memory", pattern=r"^[a-z0-9][a-z0-9_.-]{0,254}$")
    # Hybrid retrieval: the search pipeline ensure_ready creates (min-max normalization, weighted mean of
    # the BM25 and k-NN scores with these weights) and the k-NN engine of the index mapping.
    memory_search_pipeline: str = Field("luma-memory-hybrid", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    memory_hybrid_weights: tuple[float, float] = (0.5, 0.5)
    memory_knn_engine: Literal["faiss", "lucene"] = "faiss"

    @field_validator("memory_hybrid_weights")
    @classmethod
    def _hybrid_weights(cls, value: tuple[float, float]) -> tuple[float, float]:
        if any(not 0.0 <= w <= 1.0 for w in value) or abs(sum(value) - 1.0) > 0.01:
            raise ValueError("LUMA_MEMORY_HYBRID_WEIGHTS: two weights in [0, 1] that sum to 1 (lexical, vector)")
        return value

    # ------------------------------------------------------------------------------ OpenSearch end

    # Usage ----------------------------------------------------------------------------------
    # Plans, credits, per-turn metrics and model routing (luma.usage, luma.llm.routing). Issue 13.
    # Plans, JSON {"<plan>": {"credits_per_day": 500000, "rate_limits": {"user_per_minute": 30,
    # "unverified": {"user_per_minute": 10}}}}; a credit is one micro-dollar of model cost, 0 = unlimited.
    # A plan not defined here (and "default") has the built-in values of luma.usage.plans.Plan.
    plans: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The plan of each tenant, JSON {"<tenant>": "<plan>"}; tenants not listed are on "default".
    tenant_plans: dict[str, str] = Field(default_factory=dict)
    # A reservation of an agent run that never settles is given back after this long.
    credit_reservation_ttl_s: int = Field(1800, gt=0)
    # Hourly per-turn metric items (GET /metrics): off switch and retention.
    usage_metrics: bool = True
    usage_metrics_ttl_days: int = Field(35, gt=0)
    # Model tiers packs declare (AssistantPack.models) -> model per provider, JSON.
    llm_tiers: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "fast": {"anthropic": "claude-haiku-4-5", "openai": "gpt-4.1-mini"},
            "strong": {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1"},
        }
    )
    # Overrides per assistant and intent ("*": any), JSON {"<assistant>": {"<intent>": {"provider":
    # "anthropic", "model": "...", "tier": "strong"}}} (any subset of the three keys).
    llm_routes: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)

    @field_validator("plans")
    @classmethod
    def _valid_plans(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from luma.usage.plans import Plan

        for name, plan in value.items():
            try:
                Plan.model_validate(plan)
            except ValueError as exc:
                raise ValueError(f"LUMA_PLANS[{name!r}]: {exc}") from None
        return value

    @field_validator("tenant_plans")
    @classmethod
    def _known_plans(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        defined = {"default", *(info.data.get("plans") or {})}
        unknown = sorted({plan for plan in value.values() if plan not in defined})
        if unknown:
            raise ValueError(f"LUMA_TENANT_PLANS names plans LUMA_PLANS does not define: {unknown}")
        return value

    @field_validator("llm_routes")
    @classmethod
    def _valid_routes(cls, value: dict[str, dict[str, dict[str, str]]]) -> dict[str, dict[str, dict[str, str]]]:
        for assistant, intents in value.items():
            for intent, route in intents.items():
                unknown = set(route) - {"provider", "model", "tier"}
                if unknown or route.get("provider", "anthropic") not in ("anthropic", "openai"):
                    raise ValueError(f"LUMA_LLM_ROUTES[{assistant!r}][{intent!r}]: provider, model and/or tier")
        return value

    # ---- Usage end

    # Memory ---------------------------------------------------------------------------------
    # Long-term memory (luma.memory.settings.MemorySettings reads these names): the context budget of an
    # agent step, how many memories it may show, deduplication, retention, and how facts are extracted
    # ("auto": the model when one is configured, else the offline extractive path).
    memory_context_tokens: int = Field(1500, gt=0)
    memory_top_k: int = Field(10, gt=0)
    memory_candidates: int = Field(30, gt=0)
    memory_dedup_threshold: float = Field(0.95, gt=0, le=1)
    memory_similar_k: int = Field(5, gt=0)
    memory_retention_days: int = Field(365, gt=0)
    memory_extraction: Literal["auto", "llm", "extractive"] = "auto"
    memory_llm_max_tokens: int = Field(1000, gt=0)
    # --------------------------------------------------------------------------------- Memory end

    # Operators: the first-response limit the console warns before (per tenant overrides), how long
    # inbox notices and the audit of operators' actions are kept.
    operator_first_response_s: int = Field(300, gt=0)
    operator_first_response_tenants: dict[str, int] = Field(default_factory=dict)
    operator_notice_ttl_days: int = Field(14, gt=0)
    operator_audit_retention_days: int = Field(365, gt=0)

    # Guard ----------------------------------------------------------------------------------
    # Per-tenant overrides of the assistants' guard policies (luma.guard.policy), JSON
    # {"<tenant>": {"input": {"injection": {"action": "block"}}, "blocking": {"violations": 5}}}; per-tenant
    # crisis resources (luma.guard.replies), JSON {"<tenant>": {"countries": {...}}}; audit retention.
    guard_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    crisis_resources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    guard_audit_retention_days: int = Field(90, gt=0)
    # ---------------------------------------------------------------------------------- Guard end

    # Metrics (Powertools' own switch; single EMF documents honour it too).
    metrics_disabled: bool = Field(False, validation_alias="POWERTOOLS_METRICS_DISABLED")

    # X-Ray SDK subsegments in the WebSocket-path functions (~135 ms of cold start each).
    xray_sdk: bool = False

    # Logging.
    log_level: str = Field("INFO", validation_alias=AliasChoices("LUMA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"))

    @model_validator(mode="after")
    def _auth_is_configured(self) -> Settings:
        if self.auth_mode == "cognito" and not self.cognito_jwks_url:
            raise ValueError("LUMA_AUTH_MODE=cognito needs LUMA_COGNITO_JWKS_URL")
        # In a Lambda environment, only an explicit LUMA_ENV=local|test (the local stack) allows dev tokens.
        in_aws = self.env == "aws" or (self.lambda_function_name is not None and "env" not in self.model_fields_set)
        if self.auth_mode == "dev" and in_aws:
            raise ValueError(
                "LUMA_AUTH_MODE=dev is refused in AWS (anyone holding the dev key could mint tokens): "
                "set LUMA_AUTH_MODE=cognito with LUMA_COGNITO_JWKS_URL"
            )
        return self

    @property
    def agent_configured(self) -> bool:
        """True when some LLM provider is configured (in AWS: the LLM secret, read when a run needs it)."""
        return bool(self.anthropic_api_key or self.openai_api_key or self.openai_base_url or self.llm_secret_arn)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use (Lambda cold start)."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
