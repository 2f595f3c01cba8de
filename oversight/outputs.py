"""The JSON shapes of oversight results, one source for the API and the websocket (camelCase for the page).

Model-written strings go out as they are, as data: the page sets them with textContent, never as HTML.
"""

from .models import Critique, DebateTurn, DebateVerdict, OversightRun, SymbolicCheck


def run_out(run: OversightRun) -> dict:
    return {"id": run.pk, "chain": run.chain_id, "revision": run.revision, "kind": run.kind,
            "stepKey": run.step_key, "status": run.status, "done": run.done, "total": run.total,
            "malformed": run.malformed, "error": run.error,
            "backend": run.backend.name if run.backend_id and run.backend else None,
            "embedded": bool(run.backend_id and run.backend and run.backend.is_embedded),
            "config": run.config}


def critique_out(c: Critique) -> dict:
    return {"id": c.pk, "run": c.run_id, "stepKey": c.step_key, "verdict": c.verdict, "confidence": c.confidence,
            "explanation": c.explanation, "quote": c.quote, "quoteVerified": c.quote_verified}


def check_out(c: SymbolicCheck) -> dict:
    return {"id": c.pk, "run": c.run_id, "stepKey": c.step_key, "outcome": c.outcome, "findings": c.findings}


def turn_out(t: DebateTurn) -> dict:
    return {"id": t.pk, "run": t.run_id, "round": t.round, "side": t.side, "text": t.text, "quotes": t.quotes,
            "malformed": t.malformed}


def verdict_out(v: DebateVerdict) -> dict:
    return {"run": v.run_id, "judge": "model" if v.judge_model else "person", "judgeModel": v.judge_model,
            "verdict": v.verdict, "credence": v.credence, "reason": v.reason}
