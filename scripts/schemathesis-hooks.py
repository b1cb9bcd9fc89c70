"""Schemathesis hooks for `scripts/schemathesis`: the few reports that are not contract breaks.

Each filter drops exactly one kind of report, identified by the operation, the check, the
server's answer (status, error code, field) and the request that caused it. Why each one is not
a break of the contract is written in docs/api/contract.md ("What schemathesis cannot see").
"""

import json

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

    # 2. Changing one's own password needs the current one; another user's (administrators)
    #    does not. The schema cannot tell whose account `{id}` is.
    if (
        path == "/api/v1/users/{id}"
        and method == "PATCH"
        and status == 400
        and code == "invalid_field"
        and field == "current_password"
        and isinstance(case.body, dict)
        and case.body.get("password") is not None
        and case.body.get("current_password") is None
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

    return True
