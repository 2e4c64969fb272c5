"""Schemathesis hooks of locus's fuzz run (scripts/fuzz/run.sh, schemathesis 4.32.5).

The documents' text patterns are restated in a form schemathesis can use (before_load_schema), and
two checks replace schemathesis's own, each letting through only answers named by their LOCUS_ code:
`positive_data_acceptance` lets a schema-valid request be refused for a rule that JSON Schema cannot
state (and, for a cross-field rule, only with the field and detail that name it); and
`not_a_server_error` lets through 503 LOCUS_NOT_YET_CONSISTENT. Everything else still fails the run.
"""

import re

import schemathesis
from schemathesis.checks import not_a_server_error
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


def _body_of(response) -> dict:
    try:
        body = response.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def _code_of(response):
    return _body_of(response).get("code")


def refused_for_rule_beyond_the_schema(response) -> bool:
    body = _body_of(response)
    code = body.get("code")
    if (response.status_code, code) in REFUSALS_BEYOND_THE_SCHEMA:
        return True
    details = body.get("details") or []
    if response.status_code != 400 or code != "LOCUS_VALIDATION" or len(details) != 1:
        return False
    field, message = details[0].get("field"), str(details[0].get("message", ""))
    return any(field == rule_field and message.startswith(start) for rule_field, start in CROSS_FIELD_RULES)


# The documents refuse U+0000 and unpaired surrogates with classes like `[^\u0000\uD800-\uDFFF]`,
# right under the `u` flag the services' validator uses (a pair is one code point outside the class).
# schemathesis's validator is Rust, whose strings cannot hold a surrogate: it drops such a pattern and
# then sends NUL in "valid" text. It sends text as UTF-8, which has no unpaired surrogate, so for it
# the surrogate range is taken out of each pattern: what is left still makes NUL invalid text.
SURROGATE_RANGE = "\\uD800-\\uDFFF"


def restate_patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = value.replace(SURROGATE_RANGE, "")
            else:
                restate_patterns(value)
    elif isinstance(node, list):
        for item in node:
            restate_patterns(item)


# The key rules the document gives every object in a product's attributes (propertyNames): the
# generator ignores them below the top level, so its "valid" attributes hold keys the document
# forbids (empty, NUL). A positive case's attributes keep only keys that follow the rules.
KEY_RULES = {}


def remember_key_rules(node):
    if isinstance(node, dict):
        names = node.get("propertyNames")
        if not KEY_RULES and isinstance(names, dict) and "pattern" in names:
            KEY_RULES.update(
                pattern=re.compile(names["pattern"]),
                min=names.get("minLength", 0),
                max=names.get("maxLength", float("inf")),
            )
        for value in node.values():
            remember_key_rules(value)
    elif isinstance(node, list):
        for item in node:
            remember_key_rules(item)


def follows_key_rules(key):
    return KEY_RULES["min"] <= len(key) <= KEY_RULES["max"] and KEY_RULES["pattern"].search(key)


def with_valid_keys(value):
    if isinstance(value, dict):
        return {key: with_valid_keys(item) for key, item in value.items() if follows_key_rules(key)}
    if isinstance(value, list):
        return [with_valid_keys(item) for item in value]
    return value


@schemathesis.hook
def before_load_schema(context, raw_schema):
    restate_patterns(raw_schema)
    remember_key_rules(raw_schema)


@schemathesis.hook
def map_case(context, case):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    body = case.body
    if positive and KEY_RULES and isinstance(body, dict) and isinstance(body.get("attributes"), dict):
        body["attributes"] = with_valid_keys(body["attributes"])
    return case


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx, response, case):
    """`positive_data_acceptance`, except the refusals named in REFUSALS_BEYOND_THE_SCHEMA, and
    requests whose path holds a null a stateful link took from a response (a product without a
    category links to GET /categories/None): such a request is not schema-valid."""
    if refused_for_rule_beyond_the_schema(response):
        return None
    if any(value is None for value in (case.path_parameters or {}).values()):
        return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def not_a_server_error_but_not_yet_consistent(ctx, response, case):
    """`not_a_server_error`, except 503 LOCUS_NOT_YET_CONSISTENT: the documented answer (with
    Retry-After) to a consistency token the views do not show yet. schemathesis invents tokens of
    writes that never happened, and no service can tell those from writes still on their way."""
    if response.status_code == 503 and _code_of(response) == "LOCUS_NOT_YET_CONSISTENT":
        return None
    return not_a_server_error(ctx, response, case)
