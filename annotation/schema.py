"""A project's label schema: the rating scale, the labelling mode, the rubric, what is required when.

Pure: no Django. `effective_schema` fills defaults; `validate_schema` refuses a bad schema with a
message naming the field and how to fix it (ValueError(field, message)).
"""

import re
from copy import deepcopy
from typing import Any

MODES = ("first_error", "full")
REQUIRE_WHEN = ("never", "negative", "always")  # a field is required on no step / on steps rated below 0 / on every rated step
REQUIRABLE = ("rationale", "correction", "error_type")
FINISH_REASONS = ("solution", "found_error", "bad_problem", "give_up")
DEFAULT_ERROR_TYPES = ("arithmetic", "logic", "unjustified claim", "misread problem", "other")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_RESERVED_KEYS = set("jkuf?/nsgrcxe") | {"Enter", "Escape", "Backspace", "Delete"}

# PRM800K's meanings (Lightman et al., 2023, labeler instructions).
TERNARY = [
    {"value": -1, "name": "Bad", "key": "1", "color": "#c0392b",
     "meaning": "The step is wrong: a false statement, a wrong calculation, an unjustified leap."},
    {"value": 0, "name": "Neutral", "key": "2", "color": "#7f8c8d",
     "meaning": "Reasonable but not helpful: an innocent detour, or no progress."},
    {"value": 1, "name": "Good", "key": "3", "color": "#27ae60",
     "meaning": "Correct and moves towards the answer."},
]


def default_schema(label_scale: str = "ternary") -> dict:
    scale = deepcopy(TERNARY if label_scale != "binary" else [TERNARY[0], TERNARY[2]])
    return {
        "scale": scale,
        "mode": "first_error",
        "error_types": list(DEFAULT_ERROR_TYPES),
        "require": {"rationale": "never", "correction": "never", "error_type": "never"},
        "finish_reasons": list(FINISH_REASONS),
        # An annotator may reopen a submitted chain of theirs (to correct it) until review starts.
        "allow_reopen": True,
    }


def effective_schema(stored: dict | None, label_scale: str = "ternary") -> dict:
    """The stored schema over the defaults (keys it does not set keep their default)."""
    schema = default_schema(label_scale)
    for key, value in (stored or {}).items():
        if key == "require" and isinstance(value, dict):
            schema["require"] = {**schema["require"], **value}
        else:
            schema[key] = value
    return schema


def validate_schema(data: Any, label_scale: str = "ternary") -> dict:
    """The schema to store, or ValueError((field, message)). Leaves out nothing it was given silently."""
    if not isinstance(data, dict):
        raise ValueError(("label_schema", f"is {type(data).__name__}; expected an object"))
    known = {"scale", "mode", "error_types", "require", "finish_reasons", "allow_reopen"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError((f"label_schema.{unknown[0]}", f"is not a schema field; use {', '.join(sorted(known))}"))
    schema = effective_schema(data, label_scale)
    scale = schema["scale"]
    if not isinstance(scale, list) or not 2 <= len(scale) <= 9:
        raise ValueError(("label_schema.scale", "must be a list of 2 to 9 levels, lowest first"))
    values, keys = [], set()
    for i, level in enumerate(scale):
        where = f"label_schema.scale[{i}]"
        if not isinstance(level, dict):
            raise ValueError((where, "must be an object with value, name, key, color"))
        value = level.get("value")
        if not isinstance(value, int) or isinstance(value, bool) or not -100 <= value <= 100:
            raise ValueError((f"{where}.value", "must be a whole number from -100 to 100"))
        name = level.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 40:
            raise ValueError((f"{where}.name", "must be a name of 1 to 40 characters"))
        key = level.get("key", "")
        if not isinstance(key, str) or len(key) != 1 or key in _RESERVED_KEYS or key in keys:
            raise ValueError((f"{where}.key", f"'{key}' must be one character, unique, and not one of the "
                                              f"workspace's own keys ({' '.join(sorted(k for k in _RESERVED_KEYS if len(k) == 1))})"))
        keys.add(key)
        color = level.get("color", "#7f8c8d")
        if not isinstance(color, str) or not _COLOR.match(color):
            raise ValueError((f"{where}.color", f"'{color}' must be a colour like #27ae60"))
        meaning = level.get("meaning", "")
        if not isinstance(meaning, str) or len(meaning) > 500:
            raise ValueError((f"{where}.meaning", "must be text of at most 500 characters"))
        values.append(value)
    if values != sorted(set(values)):
        raise ValueError(("label_schema.scale", "values must be distinct and in rising order (lowest, worst, first)"))
    if schema["mode"] not in MODES:
        raise ValueError(("label_schema.mode", f"is '{schema['mode']}'; use one of {', '.join(MODES)}"))
    if schema["mode"] == "first_error" and values[0] >= 0:
        raise ValueError(("label_schema.mode", "first_error mode needs a level below 0 (the error rating)"))
    types = schema["error_types"]
    if (not isinstance(types, list) or len(types) > 30
            or not all(isinstance(t, str) and 0 < len(t.strip()) <= 64 for t in types) or len(set(types)) != len(types)):
        raise ValueError(("label_schema.error_types", "must be a list of up to 30 distinct names of 1 to 64 characters"))
    require = schema["require"]
    for field, when in require.items():
        if field not in REQUIRABLE:
            raise ValueError((f"label_schema.require.{field}", f"is not a step field; use {', '.join(REQUIRABLE)}"))
        if when not in REQUIRE_WHEN:
            raise ValueError((f"label_schema.require.{field}", f"is '{when}'; use one of {', '.join(REQUIRE_WHEN)}"))
    if require.get("error_type", "never") != "never" and not types:
        raise ValueError(("label_schema.require.error_type", "is required but the rubric (error_types) is empty"))
    if not isinstance(schema["allow_reopen"], bool):
        raise ValueError(("label_schema.allow_reopen", "must be true or false"))
    reasons = schema["finish_reasons"]
    if (not isinstance(reasons, list) or not reasons or any(r not in FINISH_REASONS for r in reasons)
            or len(set(reasons)) != len(reasons)):
        raise ValueError(("label_schema.finish_reasons", f"must be a non-empty list drawn from {', '.join(FINISH_REASONS)}"))
    return {key: schema[key] for key in known}


def missing_required(schema: dict, *, rating: int | None, rationale: str, correction: str, error_type: str) -> list[str]:
    """Fields the schema requires on a step with this label that it lacks."""
    values = {"rationale": rationale, "correction": correction, "error_type": error_type}
    missing = []
    for field, when in schema.get("require", {}).items():
        applies = rating is not None and (when == "always" or when == "negative" and rating < 0)
        if applies and not (values.get(field) or "").strip():
            missing.append(field)
    return missing
