"""Schemathesis hooks for `scripts/schemathesis`: the few reports that are not contract breaks.

Each filter drops exactly one kind of report, identified by the operation, the check, the
server's answer (status, error code, field) and the request that caused it. Why each one is not
a break of the contract is written in docs/api/contract.md ("What schemathesis cannot see").
"""

import json
import os

import schemathesis


def _error(response):
    """The `error` object of an error body, or {}."""
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError, AttributeError):
        return {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {}


def _query(case):
    return case.query or {}


def _repeats_an_id(items):
    """Whether a list of wire ids (decimal strings or integral numbers) names one id twice."""
    if not isinstance(items, list):
        return False
    seen = set()
    for item in items:
        # Integers (and their decimal strings) exactly: int(float(n)) rounds past 2**53, so
        # 9223372036854775807 would not match its own string. Only integral floats are ids.
        try:
            if isinstance(item, bool):
                return False
            if isinstance(item, (str, int)):
                n = int(item)
            else:
                f = float(item)
                if not f.is_integer():
                    return False
                n = int(f)
        except (TypeError, ValueError, OverflowError):
            return False
        if n in seen:
            return True
        seen.add(n)
    return False


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Return False to drop a report. Only schema-valid requests refused with a documented error
    (ST202, `positive_data_acceptance`) can be dropped here."""
    if getattr(failure, "code", None) != "ST202":
        return True
    path = case.operation.path
    method = case.method.upper()
    status = response.status_code
    err = _error(response)
    code, field, message = err.get("code"), err.get("field"), err.get("message", "")

    # 0. In the runs whose operations end sessions and tokens, the run's own spare credential
    #    may have been ended by an earlier request of the same run: what follows is refused as
    #    unauthenticated, as documented.
    if (
        os.environ.get("SCHEMATHESIS_CREDENTIAL_MAY_END") == "1"
        and status == 401
        and code == "unauthenticated"
    ):
        return False

    # 1. History: `before`, `after` and `around` are exclusive; OpenAPI cannot say so of query
    #    parameters.
    if (
        path == "/api/v1/channels/{id}/messages"
        and method == "GET"
        and status == 400
        and code == "bad_request"
        and "at most one of before, after and around" in message
        and sum(k in _query(case) for k in ("before", "after", "around")) > 1
    ):
        return False

    # 2. Changing one's own password needs the current one, and the right one; another user's
    #    (administrators) does not. The schema cannot tell whose account `{id}` is, nor know a
    #    secret.
    if (
        path == "/api/v1/users/{id}"
        and method == "PATCH"
        and status == 400
        and code == "invalid_field"
        and field == "current_password"
        and isinstance(case.body, dict)
        and case.body.get("password") is not None
        and (case.body.get("current_password") is None or message.endswith("is wrong"))
    ):
        return False

    # 3. The search query language (docs/api/search.md) is no regular language: the schema
    #    states its length and characters; the grammar's refusals name the field `q`.
    if (
        path == "/api/v1/search"
        and method == "GET"
        and status == 400
        and code == "invalid_field"
        and field == "q"
        and "500 characters" not in message
        and "control characters" not in message
    ):
        return False

    # 4. A reply names its thread's root: whether a message exists, is a root and is in this
    #    channel is the server's state, not the request's shape.
    if (
        path == "/api/v1/channels/{id}/messages"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "thread_root_id"
        and isinstance(case.body, dict)
        and case.body.get("thread_root_id") is not None
    ):
        return False

    # 5. Catch-up from a position past the end of the log: the request is well formed, the
    #    position is not one this server has reached (documented 410 `resync_required`).
    if (
        path == "/api/v1/events"
        and method == "GET"
        and status == 410
        and code == "resync_required"
    ):
        return False

    # 6. A guest's expiry must lie in the future and at most `[guests] max_days` ahead: a
    #    rule about the server's clock, which a schema cannot state.
    if (
        path == "/api/v1/admin/guests"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "expires_at"
        and ("in the future" in message or "guest policy" in message)
    ):
        return False

    # 7. A department's parent must exist and, when moving, not be the department itself or
    #    one of its sub-departments: the tree's state, not the request's shape (like a reply's
    #    thread root, 4.).
    if (
        path in ("/api/v1/departments", "/api/v1/departments/{id}")
        and method in ("POST", "PATCH")
        and status == 400
        and code == "invalid_field"
        and field == "parent_id"
        and (
            "no such department" in message
            or "under itself or its sub-departments" in message
        )
    ):
        return False

    # 9. A sign-in challenge is a short-lived secret the first step hands out: one that is
    #    unknown, expired or already used is state, not shape (the web client then asks the
    #    person to sign in again).
    if (
        path
        in (
            "/api/v1/auth/login/second-factor",
            "/api/v1/auth/login/totp-setup",
            "/api/v1/auth/login/webauthn-setup",
        )
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "challenge"
        and "unknown, expired or already used" in message
    ):
        return False

    # 9b. A bot account has no password and is neither an administrator nor a guest: a
    #     relation between fields of the body that the schema does not state.
    if (
        path == "/api/v1/users"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "bot"
    ):
        return False

    # 10. Nobody is their own manager: the path's person and the body's manager are the same
    #     id, a relation between two inputs that the schema cannot state.
    if (
        path == "/api/v1/users/{id}/manager"
        and method == "PUT"
        and status == 400
        and code == "invalid_field"
        and field == "manager_id"
        and "cannot manage themself" in message
    ):
        return False

    # 11. A person has at most 50 personal access tokens and 20 app passwords: how many they
    #     hold already is state (documented 422 `limit_exceeded`).
    if (
        path in ("/api/v1/users/me/tokens", "/api/v1/users/me/app-passwords")
        and method == "POST"
        and status == 422
        and code == "limit_exceeded"
    ):
        return False

    # 12. `file_ids` must not name a file twice. The schema says `uniqueItems`, but JSON Schema
    #     compares the spellings: "7", "007" and 7.0 are different items that name one file.
    #     Dropped only when two items are the same id.
    if (
        path == "/api/v1/channels/{id}/messages"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "file_ids"
        and "must not repeat" in message
        and isinstance(case.body, dict)
        and _repeats_an_id(case.body.get("file_ids"))
    ):
        return False

    # 13. A security key's answer (`credential`) is a WebAuthn credential: JSON whose fields
    #     carry base64url-encoded CBOR and signatures. The schema states the JSON's shape; an
    #     answer of the right shape whose content is no credential (no CBOR, no client data)
    #     is `webauthn_invalid`, like a search query the grammar refuses (3.).
    if (
        ("/webauthn" in path or path == "/api/v1/auth/login/second-factor")
        and method == "POST"
        and status == 400
        and code == "webauthn_invalid"
    ):
        return False

    # 8. A guest is invited into channels, not direct conversations: whether an id names a
    #    direct conversation is the server's state, not the request's shape (like 4.).
    if (
        path == "/api/v1/admin/guests"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field == "channel_ids"
        and "not direct conversations" in message
    ):
        return False

    # 14. A legal hold names exactly one of a person and a channel, ends after it starts, and
    #     has a reason that is not only blanks or control characters: relations between fields
    #     (and a text rule) the schema does not state.
    if (
        path == "/api/v1/admin/holds"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and field in ("user_id", "ends_at", "reason", "starts_at")
    ):
        return False

    # 15. Direct conversations follow the global `dm_days` only: whether an id names a direct
    #     conversation is the server's state (like 8.).
    if (
        path == "/api/v1/admin/retention/channels/{id}"
        and method in ("PUT", "DELETE")
        and status == 400
        and code == "invalid_field"
        and field == "channel_id"
        and "dm_days" in message
    ):
        return False

    # 16. Slash commands (docs/api/integrations.md): what a line asks for is a small language
    #     over the server's state (which commands and people exist, what a command takes), like
    #     the search query language (3.); its refusals name the field `text`. A reply names
    #     its thread's root, which is the server's state (like 4.).
    if (
        path == "/api/v1/channels/{id}/commands"
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and (
            field == "text"
            or (
                field == "thread_root_id"
                and isinstance(case.body, dict)
                and case.body.get("thread_root_id") is not None
            )
        )
    ):
        return False

    # 17. A custom command's trigger may not be a built-in's name, and its URL must parse (the
    #     schema states the scheme, characters and length; the URL grammar is the url crate's);
    #     an outgoing webhook's URL likewise.
    if (
        path in ("/api/v1/commands/custom", "/api/v1/webhooks/outgoing")
        and method == "POST"
        and status == 400
        and code == "invalid_field"
        and (field == "url" or (field == "trigger" and "built-in" in message))
    ):
        return False

    return True
