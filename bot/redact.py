"""One redaction step for everything the bot writes where people can read it.

GitHub (comments, reviews, PR bodies, statuses), the job summary, SARIF and the
log all pass through a `Redactor` before they leave the process. It removes two
kinds of secret:

- values it knows: the token and App key the run holds, and every value of an
  environment variable whose name says it is a secret (`*TOKEN*`, `*SECRET*`,
  `*KEY*`, `*PASSWORD*` ...), 8 characters or longer, so an AWS secret key or
  session token handed to the job is caught even though it has no pattern;
- shapes it recognises: GitHub tokens, AWS access key ids and session tokens,
  PEM private keys and JWTs (OIDC tokens), wherever they came from.

Every hit becomes `***` (what Actions itself masks with), never longer than
what it replaces, so a body under GitHub's size limit stays under it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.settings import Settings

MASK = "***"
MIN_SECRET_LENGTH = 8
# Names of environment variables whose values are treated as secrets.
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|PRIVATE", re.IGNORECASE)

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # GitHub: classic/OAuth/user-to-server/server-to-server/refresh tokens.
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,255}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    # Installation tokens of the older format: "v1." and 40 hex digits.
    re.compile(r"\bv1\.[0-9a-f]{40}\b"),
    # AWS access key ids of long-lived users and of temporary credentials.
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    # AWS secret key next to its name (config files, CLI output, env dumps).
    re.compile(
        r"(?i)(?<=aws_secret_access_key)(?:[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
    ),
    re.compile(r"(?i)(?<=secretaccesskey)(?:[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+]{40}"),
    # STS session tokens start with a fixed (base64 of a protobuf) prefix.
    re.compile(r"\b(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{40,}"),
    # PEM private keys, including one cut off before its END line (then only the
    # key material is taken, so a JSON document around it stays JSON).
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
        r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)",
        re.DOTALL,
    ),
    # JWTs: the App's JWT, Actions OIDC tokens, EKS bearer tokens are not JWTs but k8s-aws-v1.
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bk8s-aws-v1\.[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
)


# Values a secret-named switch may hold that are words, not secrets: masking
# them would garble every text that uses the word.
_NOT_SECRET = re.compile(r"(?i)^(?:true|false|enabled|disabled|required|optional|none|null)$")


def secret_values(environ: Mapping[str, str]) -> frozenset[str]:
    """The values of secret-named environment variables worth masking (pure)."""
    return frozenset(
        value
        for name, value in environ.items()
        if SECRET_NAME.search(name)
        and len(value.strip()) >= MIN_SECRET_LENGTH
        and not _NOT_SECRET.match(value.strip())
    )


def _variants(secret: str) -> set[str]:
    """The forms a secret value may take in text: as given, with escaped or real
    newlines, each long line of a multi-line value, and the Basic-auth header
    actions/checkout builds from a token."""
    value = secret.strip()
    out = {value, value.replace("\\n", "\n"), value.replace("\n", "\\n")}
    for form in list(out):
        out |= {line.strip() for line in form.splitlines() if len(line.strip()) >= 16}
    basic = base64.b64encode(f"x-access-token:{value}".encode()).decode()
    out.add(basic)
    return {v for v in out if len(v) >= MIN_SECRET_LENGTH}


@dataclass(frozen=True)
class Redactor:
    """Masks known secret values and secret-shaped text. Pure and immutable."""

    values: frozenset[str] = frozenset()

    @classmethod
    def of(cls, secrets: Iterable[str | None]) -> Redactor:
        found: set[str] = set()
        for secret in secrets:
            if secret and len(secret.strip()) >= MIN_SECRET_LENGTH:
                found |= _variants(secret)
        return cls(frozenset(found))

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """The run's token, its App key and every secret-named environment value."""
        key = settings.app_private_key
        return cls.of(
            [
                settings.token.get_secret_value(),
                key.get_secret_value() if key is not None else None,
                *settings.secret_values,
            ]
        )

    def text(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(MASK, text)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def data(self, value: Any) -> Any:
        """Every string in a JSON-like structure (keys too), structure kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


# The writers of the job summary, SARIF and log (bot.github.actions) are called
# from everywhere without a parameter to carry this; `run_handle` and the CLI
# activate the run's redactor once. Until then, only the patterns apply.
_active = Redactor()


def activate(redactor: Redactor) -> None:
    global _active  # noqa: PLW0603 - one process-wide last line of defence, set once per run
    _active = redactor


def active() -> Redactor:
    return _active


def install_excepthook() -> None:
    """Tracebacks of uncaught errors pass the active redactor too: an exception
    message can carry a token (a URL, a tool's stderr) into the job log."""
    import sys
    import traceback

    def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(active().text(text))

    sys.excepthook = hook
