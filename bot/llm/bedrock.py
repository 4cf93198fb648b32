"""Bedrock through langchain-aws: one conversation per generation, the answer forced
through our tool, retries for throttling and timeouts, and errors that say what to
configure instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.llm.config import LlmConfig
from bot.llm.schema import TOOL_NAME, ChangeProposal, MalformedAnswerError, parse_answer, tool_spec
from bot.llm.usage import Usage

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
        "TooManyRequestsException",
    }
)


class BedrockError(RuntimeError):
    """A Bedrock call failed for good; `hint` says what to configure."""

    def __init__(self, message: str, *, code: str = "", hint: str = "") -> None:
        super().__init__(f"{message}. {hint}" if hint else message)
        self.code = code
        self.hint = hint


@dataclass(frozen=True)
class Answer:
    """One model turn: a proposal, or why the answer could not be used."""

    proposal: ChangeProposal | None
    error: str | None
    usage: Usage


class Proposer(Protocol):
    """Bedrock or the offline blueprints: the loop does not care which."""

    @property
    def model_id(self) -> str: ...

    def first(self, system: str, prompt: str) -> Answer: ...

    def follow_up(self, prompt: str) -> Answer | None:
        """None: the proposer has nothing more to offer (the loop stops)."""
        ...


def explain(code: str, message: str, config: LlmConfig) -> BedrockError:
    """A ClientError code -> what the operator should configure (pure, table-tested)."""
    where = f"model {config.invoke_id} in {config.region}"
    low = message.lower()
    if code == "AccessDeniedException":
        return BedrockError(
            f"Bedrock denied access to {where}: {message}",
            code=code,
            hint=(
                "Enable access to the model in the Bedrock console (Model access) for this "
                "account and region, and allow bedrock:InvokeModel on "
                f"arn:aws:bedrock:{config.region}::foundation-model/{config.model_id}"
                + (f" and on {config.inference_profile}" if config.inference_profile else "")
                + " in the policy of the role the workflow assumes; or set `llm: offline` "
                "in .github/infra-bot.yml"
            ),
        )
    if code == "ResourceNotFoundException" or "model identifier is invalid" in low:
        return BedrockError(
            f"Bedrock has no {where}: {message}",
            code=code,
            hint=(
                "Check llm.model_id and llm.region in .github/infra-bot.yml; models that are "
                "only served through an inference profile need llm.inference_profile "
                "(e.g. us." + config.model_id + ")"
            ),
        )
    if code == "ValidationException" and ("on-demand" in low or "inference profile" in low):
        return BedrockError(
            f"{where} cannot be called on demand: {message}",
            code=code,
            hint=f"Set llm.inference_profile (e.g. us.{config.model_id}) in .github/infra-bot.yml",
        )
    if code in RETRYABLE_CODES:
        return BedrockError(
            f"Bedrock kept refusing {where} ({code}: {message}) after {config.attempts} attempts",
            code=code,
            hint="Raise the Bedrock quota for the model, or retry later",
        )
    return BedrockError(f"Bedrock call to {where} failed ({code or 'error'}): {message}", code=code)


def _is_retryable(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return True
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) in RETRYABLE_CODES
    return False


def make_chat_model(config: LlmConfig) -> Any:
    """The langchain-aws client. botocore's own retries are off: tenacity owns them."""
    from langchain_aws import ChatBedrockConverse

    kwargs: dict[str, Any] = {
        "model": config.invoke_id,
        "region_name": config.region,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "timeout": config.timeout_seconds,
        "max_retries": 0,
    }
    if config.inference_profile:
        kwargs["base_model"] = config.model_id  # spares a GetInferenceProfile call
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    return ChatBedrockConverse(**kwargs)


@dataclass
class BedrockProposer:
    """The conversation with the model: the request, then one repair turn per round."""

    config: LlmConfig
    chat: Any = None  # a ChatBedrockConverse; built from config when not given
    wait_base: float = 1.0  # seconds; tests shrink it
    messages: list[Any] = field(default_factory=list)
    sleep: Callable[[float], None] | None = None

    @property
    def model_id(self) -> str:
        return self.config.model_id

    def first(self, system: str, prompt: str) -> Answer:
        from langchain_core.messages import HumanMessage, SystemMessage

        self.messages = [SystemMessage(content=system), HumanMessage(content=prompt)]
        return self._turn()

    def follow_up(self, prompt: str) -> Answer | None:
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        last = self.messages[-1] if self.messages else None
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        if calls:
            # Every toolUse must be answered by a toolResult, or Converse rejects the turn.
            self.messages.append(ToolMessage(content=prompt, tool_call_id=calls[0]["id"]))
            for call in calls[1:]:
                self.messages.append(ToolMessage(content="ignored", tool_call_id=call["id"]))
        else:
            self.messages.append(HumanMessage(content=prompt))
        return self._turn()

    def _turn(self) -> Answer:
        from langchain_core.messages import AIMessage

        reply = self._invoke()
        self.messages.append(reply)
        meta = getattr(reply, "usage_metadata", None) or {}
        usage = Usage(int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)), 1)
        calls = [dict(c) for c in reply.tool_calls] if isinstance(reply, AIMessage) else []
        try:
            return Answer(parse_answer(calls), None, usage)
        except MalformedAnswerError as exc:
            return Answer(None, str(exc), usage)

    def _invoke(self) -> Any:
        import tenacity
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        chat = self.chat if self.chat is not None else make_chat_model(self.config)
        self.chat = chat
        bound = chat.bind_tools([tool_spec()], tool_choice=TOOL_NAME)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_retryable),
            wait=tenacity.wait_exponential(multiplier=self.wait_base, max=30 * self.wait_base),
            stop=tenacity.stop_after_attempt(self.config.attempts),
            sleep=self.sleep or tenacity.nap.sleep,
            reraise=True,
        )
        try:
            return retrying(bound.invoke, self.messages)
        except NoCredentialsError:
            raise BedrockError(
                "no AWS credentials for Bedrock",
                code="NoCredentials",
                hint=(
                    "Let the workflow assume a role through OIDC (aws-actions/configure-aws-"
                    "credentials), or set `llm: offline` in .github/infra-bot.yml"
                ),
            ) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            raise explain(code, message, self.config) from exc
        except ValueError as exc:
            # langchain-aws raises ValueError when the body is not a Converse response.
            raise BedrockError(
                f"Bedrock answered something that is not a Converse response: {exc}",
                code="BadResponse",
                hint="Check llm.endpoint_url and llm.region",
            ) from exc
        except BotoCoreError as exc:
            raise BedrockError(
                f"Bedrock call failed after {self.config.attempts} attempts: {exc}",
                code=type(exc).__name__,
                hint="Check llm.region / llm.endpoint_url and the network",
            ) from exc
