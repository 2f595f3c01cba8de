"""`export_dataset --format oversight`: one JSON line per result of the project's finished runs.

Fields: chain_id (the chain's source id), revision, step_index (0-based, in that revision), step_key,
pass, verdict (critique: correct / incorrect / unsure / malformed; symbolic: mismatch / verified /
abstain; debate: the judges' verdicts), confidence, detail, model, run_id. Streams a batch of runs
at a time; the step order of each revision is read once.
"""

from collections.abc import Iterator

import orjson

from annotation.models import Project
from annotation.selectors import stored_revisions
from annotation.steps import assemble

from .models import Critique, DebateTurn, DebateVerdict, OversightRun, PassKind, RunStatus, SymbolicCheck

BATCH = 500


def _symbolic_verdict(findings: list[dict]) -> str:
    outcomes = {f["outcome"] for f in findings}
    if "mismatch" in outcomes:
        return "mismatch"
    # "verified": every equality of the step checks out; never a claim that the step is correct.
    return "verified" if outcomes == {"verified"} else "abstain"


def oversight_export_lines(*, project: Project) -> Iterator[bytes]:
    runs = (OversightRun.objects.filter(chain__project=project, status=RunStatus.DONE)
            .select_related("chain", "backend").order_by("id"))
    last = 0
    while True:
        batch = list(runs.filter(id__gt=last)[:BATCH])
        if not batch:
            return
        last = batch[-1].pk
        order: dict[tuple[int, int], dict[int, int]] = {}
        for run in batch:
            if (run.chain_id, run.revision) not in order:
                steps = assemble(stored_revisions(chain_id=run.chain_id, upto=run.revision), run.revision)
                order[(run.chain_id, run.revision)] = steps.index_of()
        ids = [r.pk for r in batch]
        by_run: dict[int, list] = {}
        for c in Critique.objects.filter(run_id__in=ids).order_by("step_key"):
            by_run.setdefault(c.run_id, []).append(c)
        for s in SymbolicCheck.objects.filter(run_id__in=ids).order_by("step_key"):
            by_run.setdefault(s.run_id, []).append(s)
        turns: dict[int, list] = {}
        for t in DebateTurn.objects.filter(run_id__in=ids).order_by("round", "id"):
            turns.setdefault(t.run_id, []).append({"round": t.round, "side": t.side, "text": t.text,
                                                   "quotes": t.quotes, "malformed": t.malformed})
        verdicts: dict[int, list] = {}
        for v in DebateVerdict.objects.filter(run_id__in=ids).order_by("id"):
            verdicts.setdefault(v.run_id, []).append({"judge": "model" if v.judge_model else f"user:{v.judge_id}",
                                                      "verdict": v.verdict, "credence": v.credence})
        for run in batch:
            position = order[(run.chain_id, run.revision)]
            base = {"chain_id": run.chain.source_id, "revision": run.revision, "pass": run.kind,
                    "model": run.backend.model if run.backend_id else "sympy", "run_id": run.pk}
            if run.kind == PassKind.DEBATE:
                yield orjson.dumps({**base, "step_index": position.get(run.step_key), "step_key": run.step_key,
                                    "verdict": [v["verdict"] for v in verdicts.get(run.pk, [])],
                                    "confidence": [v["credence"] for v in verdicts.get(run.pk, [])],
                                    "detail": {"turns": turns.get(run.pk, []), "verdicts": verdicts.get(run.pk, [])}},
                                   option=orjson.OPT_APPEND_NEWLINE)
                continue
            for row in by_run.get(run.pk, []):
                if isinstance(row, Critique):
                    out = {"verdict": row.verdict, "confidence": row.confidence,
                           "detail": {"explanation": row.explanation, "quote": row.quote,
                                      "quote_verified": row.quote_verified, **({"raw": row.raw} if row.raw else {})}}
                else:
                    out = {"verdict": _symbolic_verdict(row.findings), "confidence": None,
                           "detail": {"findings": row.findings}}
                yield orjson.dumps({**base, "step_index": position.get(row.step_key), "step_key": row.step_key,
                                    **out}, option=orjson.OPT_APPEND_NEWLINE)
