"""Signed approval links and the CSRF tokens of the approval page, both keyed by one HMAC secret.

A link is `{IRFLOW_APPROVAL_URL}/{approval id}?exp=<unix seconds>&sig=<signature>`: the signature is
HMAC-SHA256 over the approval id and the expiry, so a link cannot be forged, pointed at another
approval or extended. It carries no task token and grants nothing by itself: whoever opens it
must still be a signed-in approver (`approval_gate`). The key is the SecretString of the Secrets
Manager secret that `IRFLOW_APPROVAL_KEY_SECRET_ARN` names (the ARN is in the environment, the key
never is); it is read on first use and kept for `KEY_TTL_SECONDS`, so a rotated key is picked up
without a redeploy. It is never logged or returned.

The page's CSRF token is derived from the same key and binds the approval id, the link's
signature, a random per-browser nonce (kept in an HttpOnly SameSite=Strict cookie) and the
signed-in person: a token lifted from one page works for no other approval, browser or person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime
from typing import Any

from . import clock
from .aws import client
from .config import settings

KEY_TTL_SECONDS = 300
MIN_KEY_CHARS = 32
APPROVAL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EXPIRY = re.compile(r"^[0-9]{1,12}$")
SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url without padding
NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")
SEP = "\x1f"  # unit separator: cannot occur in an approval id, an expiry or a signature

_keys: dict[str, tuple[float, bytes]] = {}


class LinkError(Exception):
    """A link or token that does not verify; the message says why, for the page (never the key)."""


class NotConfigured(Exception):
    """The signing key is not configured or not usable (a deployment or local-runtime problem)."""


def _key(secrets_client: Any = None) -> bytes:
    """The signing key, from Secrets Manager on first use, then cached for KEY_TTL_SECONDS."""
    secret = settings().approval_key_secret
    if not secret:
        raise NotConfigured("IRFLOW_APPROVAL_KEY_SECRET_ARN is not set: approval links cannot be signed")
    cached = _keys.get(secret)
    if cached is not None and time.monotonic() - cached[0] < KEY_TTL_SECONDS:
        return cached[1]
    value = (secrets_client or client("secretsmanager")).get_secret_value(SecretId=secret).get("SecretString") or ""
    if len(value) < MIN_KEY_CHARS:
        raise NotConfigured(f"the approval signing key must be at least {MIN_KEY_CHARS} characters")
    key = value.encode()
    _keys[secret] = (time.monotonic(), key)
    return key


def _mac(key: bytes, *parts: str) -> str:
    digest = hmac.new(key, SEP.join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(approval_id: str, expires: int, secrets_client: Any = None) -> str:
    """The signature of a link to `approval_id` valid until `expires` (unix seconds)."""
    return _mac(_key(secrets_client), "irflow-approval-link", "v1", approval_id, str(expires))


def expiry_of(expires_at: str) -> int:
    """Unix seconds of an approval's `expires_at` (ISO 8601): the link lives exactly as long as the approval."""
    return int(datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp())


def link(approval_id: str, expires_at: str, secrets_client: Any = None) -> str | None:
    """The approval page's signed URL, or None where no approval URL is configured (then: `irflow approve`)."""
    base = settings().approval_url
    if not base:
        return None
    expires = expiry_of(expires_at)
    return f"{base}/{approval_id}?exp={expires}&sig={sign(approval_id, expires, secrets_client)}"


def verify(approval_id: str, exp: str | None, sig: str | None, secrets_client: Any = None) -> int:
    """The link's expiry if its signature is right (expired or not); `LinkError` otherwise."""
    if not APPROVAL_ID.match(approval_id or ""):
        raise LinkError("the link does not name an approval")
    if not exp or not sig or not EXPIRY.match(exp) or not SIGNATURE.match(sig):
        raise LinkError("the link is incomplete or malformed")
    if not hmac.compare_digest(sign(approval_id, int(exp), secrets_client), sig):
        raise LinkError("the link's signature does not match: it was altered or not issued by irflow")
    return int(exp)


def expired(expires: int) -> bool:
    """Whether a link's expiry has passed, on the clock the tasks use (the engine's, locally)."""
    return clock.now().timestamp() >= expires


def new_nonce() -> str:
    """A fresh per-browser nonce for the CSRF cookie."""
    return secrets.token_urlsafe(24)


def valid_nonce(nonce: str | None) -> bool:
    return bool(nonce) and bool(NONCE.match(nonce or ""))


def csrf_token(approval_id: str, sig: str, nonce: str, person: str, secrets_client: Any = None) -> str:
    """The page's anti-forgery token for this approval, link, browser nonce and person."""
    return _mac(_key(secrets_client), "irflow-approval-csrf", "v1", approval_id, sig, nonce, person)


def csrf_ok(token: str | None, approval_id: str, sig: str, nonce: str | None, person: str,
            secrets_client: Any = None) -> bool:
    """Whether a posted token matches the one `csrf_token` gave this browser and person."""
    if not token or not valid_nonce(nonce):
        return False
    assert nonce is not None
    return hmac.compare_digest(csrf_token(approval_id, sig, nonce, person, secrets_client), token)
