"""Schemathesis hooks of locus's fuzz run (scripts/fuzz/run.sh, schemathesis 4.32.5).

One check replaces schemathesis's `positive_data_acceptance`: the same check, except that a
schema-valid request may be refused for a rule that JSON Schema cannot state, and only with the
error code (and, for a cross-field rule, the field and detail) that names that rule. Every other refusal
of a schema-valid request still fails the run.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# (status, LOCUS_ code) -> the rule no schema can state, so a schema-valid request can break it.
REFUSALS_BEYOND_THE_SCHEMA = {
    # State: the key was used before with another body (draft-ietf-httpapi-idempotency-key-header
    # answers 422); schemathesis sends the same keys with new bodies.
    (422, "LOCUS_IDEMPOTENCY_MISMATCH"): "Idempotency-Key reused with another request",
    # Opaque token: only a cursor the service issued, for the same sort, continues a listing.
    (400, "LOCUS_BAD_CURSOR"): "cursor not issued by the service for this sort",
}

# Cross-field rules of the query API, as (field, start of the detail message) of a 400
# LOCUS_VALIDATION: the analytics window needs from < to and spans at most the service's maximum;
# price band edges ascend; a price range has min <= max.
CROSS_FIELD_RULES = (
    ("querystring/from", "must be earlier than to"),
    ("querystring/to", "window longer than"),
    ("querystring/priceEdges", "must be strictly ascending"),
    ("querystring/minPrice", "must not exceed maxPrice"),
)


def refused_for_rule_beyond_the_schema(response) -> bool:
    try:
        body = response.json()
    except Exception:
        return False
    if not isinstance(body, dict):
        return False
    code = body.get("code")
    if (response.status_code, code) in REFUSALS_BEYOND_THE_SCHEMA:
        return True
    details = body.get("details") or []
    if response.status_code != 400 or code != "LOCUS_VALIDATION" or len(details) != 1:
        return False
    field, message = details[0].get("field"), str(details[0].get("message", ""))
    return any(field == rule_field and message.startswith(start) for rule_field, start in CROSS_FIELD_RULES)


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx, response, case):
    """`positive_data_acceptance`, except the refusals named in REFUSALS_BEYOND_THE_SCHEMA."""
    if refused_for_rule_beyond_the_schema(response):
        return None
    return positive_data_acceptance(ctx, response, case)
