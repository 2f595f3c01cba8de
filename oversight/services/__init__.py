"""Every write of the oversight app. Each function owns its transaction; no network call inside one."""

from .backends import backend_config, backend_create, backend_default, backend_resolve
from .feedback import arm_draw, assistance_rate, debate_judge, policy_set
from .runs import run_request, run_retry, runs_execute, runs_maintain, runs_request_for_chains

__all__ = [
    "arm_draw",
    "assistance_rate",
    "backend_config",
    "backend_create",
    "backend_default",
    "backend_resolve",
    "debate_judge",
    "policy_set",
    "run_request",
    "run_retry",
    "runs_execute",
    "runs_maintain",
    "runs_request_for_chains",
]
