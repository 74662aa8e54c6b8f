"""Who may call: the Cognito user pool (JWTs for web/mobile) and the stage's secrets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.nag import acknowledge

OPERATOR_GROUP = "operator"  # luma.auth.OPERATOR_GROUP
# The JSON shape operators put into each secret (docs/deploy.md, "Secrets").
SECRET_TEMPLATES = {
    "llm": '{"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}',
    "twilio": '{"account_sid": "", "auth_token": "", "whatsapp_from": "", "sms_from": ""}',
}
# Secrets whose value Secrets Manager generates at creation: {name: (JSON key, description)}.
GENERATED_SECRETS = {
    "signing": ("key", "root key of the page-cursor and pseudonymous-id HMACs"),
    "origin_verify": ("current", "header value CloudFront adds in front of both APIs (origin check)"),
}


class Secrets(Construct):
    """The stage's secrets, encrypted with the stage key: provider credentials (values set by hand)
    and generated keys (signing, origin verification)."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, secretsmanager.Secret] = {}
        for name, (json_key, what) in GENERATED_SECRETS.items():
            secret = secretsmanager.Secret(
                self,
                "".join(part.capitalize() for part in name.split("_")),
                secret_name=f"{stage.prefix()}/{name.replace('_', '-')}",
                description=f"Luma {stage.name}: {what} (generated)",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template="{}",
                    generate_string_key=json_key,
                    password_length=64,
                    exclude_punctuation=True,  # travels in an HTTP header
                ),
                removal_policy=RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY,
            )
            acknowledge(
                secret,
                "SMG4",
                "Generated once, rotated by hand (docs/deploy.md, Secrets): the signing key keys the "
                "pseudonymous sender ids, which a rotation would change, and CloudFront's copy of the "
                "origin header changes only with a deploy (the functions accept the current and the "
                "previous value meanwhile), which a rotation Lambda cannot do.",
            )
            self.by_name[name] = secret
        for name, template in SECRET_TEMPLATES.items():
            secret = secretsmanager.Secret(
                self,
                name.capitalize(),
                secret_name=f"{stage.prefix()}/{name}",
                description=f"Luma {stage.name}: {name} provider credentials (JSON, set after the first deploy)",
                encryption_key=key,
                # A valid JSON document with empty values; `generated` is never read.
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=template, generate_string_key="generated"
                ),
                removal_policy=RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY,
            )
            acknowledge(
                secret,
                "SMG4",
                "Third-party provider keys (LLM vendors, Twilio auth token) are issued by the "
                "provider and cannot be rotated by a Lambda rotation function; they are rotated by "
                "hand at the provider and with put-secret-value (docs/deploy.md).",
            )
            self.by_name[name] = secret


class UserPool(Construct):
    """Cognito user pool + public app client: issues the JWTs both APIs verify."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.pool = cognito.UserPool(
            self,
            "Pool",
            user_pool_name=stage.prefix("users"),
            self_sign_up_enabled=False,  # accounts are provisioned by each tenant
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            custom_attributes={"tenant": cognito.StringAttribute(min_len=1, max_len=64, mutable=False)},
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS
            if stage.cognito_threat_protection
            else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if stage.cognito_threat_protection else None
            ),
            deletion_protection=stage.production,
            removal_policy=RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.pool,
            "COG2",
            "Patients sign in to chat about appointments from shared and mobile devices; MFA (TOTP) "
            "is offered and can be required per tenant, but is not forced on every user.",
        )
        if not stage.cognito_threat_protection:
            acknowledge(
                self.pool,
                "COG8",
                f"The {stage.name} stage has no real users: the Plus feature plan (threat protection, "
                "billed per monthly active user) is enabled in production only.",
            )
        # Members get role "operator" in their tokens (cognito:groups): escalations, takeover.
        cognito.CfnUserPoolGroup(
            self,
            "Operators",
            user_pool_id=self.pool.user_pool_id,
            group_name=OPERATOR_GROUP,
            description="Staff of the tenant: escalations, takeover, operator-only routes",
        )
        self.client = self.pool.add_client(
            "WebClient",
            user_pool_client_name=stage.prefix("web"),
            generate_secret=False,  # a browser / mobile app cannot keep one
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )

    @property
    def issuer(self) -> str:
        return self.pool.user_pool_provider_url

    @property
    def jwks_url(self) -> str:
        return f"{self.pool.user_pool_provider_url}/.well-known/jwks.json"
