"""Runs of the passes: asking for one (cached by chain revision + pass + config + model), retrying a failed
one, and executing them in the worker.

A run is executed by `runs_execute(run_ids)`: it claims each queued run by a conditional update (a second
worker, or the same message delivered twice, finds nothing to claim), reads the revision the run names,
and for the model passes sends every request of every run of the batch through one client, so the
model server sees up to `max_concurrency` requests whatever the chains' lengths. Results are written in
small batches as they arrive (each batch its own short transaction: no network call inside one) and
broadcast to the chain's group after commit. A run that stopped half-way (failed, worker lost) resumes:
steps with a stored result are not asked again.
"""

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from annotation.exceptions import Conflict, ValidationFailed
from annotation.models import Chain
from annotation.selectors import chain_steps

from .. import symbolic
from ..client import ChatClient, ChatReply, ModelError
from ..models import (
    MAX_TEXT,
    Critique,
    DebateTurn,
    DebateVerdict,
    ModelBackend,
    OversightPolicy,
    OversightRun,
    PassKind,
    RunStatus,
    SymbolicCheck,
)
from ..outputs import check_out, critique_out, run_out, turn_out, verdict_out
from ..passes import critique as critique_pass
from ..passes import debate as debate_pass
from ..passes.common import Malformed
from ..priority import convincing_wrong
from ..realtime import broadcast_chain_event, chain_event_async
from .backends import backend_config, backend_resolve

log = logging.getLogger(__name__)
PROMPT_VERSION = "v1"  # part of every cache key: a changed prompt is a new pass
FLUSH_SECONDS = 0.5
FLUSH_ROWS = 100


# --- asking for runs ----------------------------------------------------------------------------------

def _config(kind: str, policy: OversightPolicy | None, options: dict) -> dict:
    if kind == PassKind.CRITIQUE:
        return {"prompt": PROMPT_VERSION, "context_chars": int(options.get("context_chars", critique_pass.CONTEXT_CHARS))}
    if kind == PassKind.DEBATE:
        rounds = int(options.get("rounds") or (policy.debate_rounds if policy else 3))
        budget = int(options.get("turn_chars") or (policy.debate_turn_chars if policy else 1200))
        mode = options.get("mode") or (policy.debate_mode if policy else "sequential")
        judge = options.get("judge", "person")
        if not 1 <= rounds <= 10:
            raise ValidationFailed(f"rounds must be 1 to 10; got {rounds}.", field="rounds")
        if not 100 <= budget <= 10_000:
            raise ValidationFailed(f"turn_chars must be 100 to 10,000; got {budget}.", field="turn_chars")
        if mode not in ("sequential", "simultaneous"):
            raise ValidationFailed(f"mode must be sequential or simultaneous; got {mode!r}.", field="mode")
        if judge not in ("person", "model"):
            raise ValidationFailed(f"judge must be person or model; got {judge!r}.", field="judge")
        return {"prompt": PROMPT_VERSION, "rounds": rounds, "turn_chars": budget, "mode": mode, "judge": judge}
    return {"checker": "sympy-1"}


def _cache_key(chain_id: int, revision: int, kind: str, step_key: int | None, config: dict,
               backend: ModelBackend | None) -> str:
    model = [backend.base_url, backend.model, backend.params] if backend else None
    blob = json.dumps([chain_id, revision, kind, step_key, config, model], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _check_kind(kind: str) -> None:
    if kind not in PassKind.values:
        raise ValidationFailed(f"Unknown pass {kind!r}; use one of {', '.join(PassKind.values)}.", field="pass")


def run_request(*, chain: Chain, kind: str, backend_name: str | None = None, step_key: int | None = None,
                options: dict | None = None, user=None) -> tuple[OversightRun, bool]:
    """The run of `kind` on the chain's current revision: the cached one if asked before, else a new one
    queued after commit. Returns (run, created)."""
    _check_kind(kind)
    policy = OversightPolicy.objects.filter(project_id=chain.project_id).first()
    backend = None if kind == PassKind.SYMBOLIC else backend_resolve(name=backend_name, policy=policy)
    revision = chain.revision
    if kind == PassKind.DEBATE:
        keys = chain_steps(chain=chain, revision=revision).keys
        if step_key is None or step_key not in keys:
            raise ValidationFailed(f"A debate needs step_key, the key of a step of revision {revision} "
                                   f"of chain '{chain.source_id}'; got {step_key!r}.", field="step_key")
    else:
        step_key = None
    config = _config(kind, policy, options or {})
    key = _cache_key(chain.pk, revision, kind, step_key, config, backend)
    with transaction.atomic():
        run, created = OversightRun.objects.get_or_create(cache_key=key, defaults={
            "chain": chain, "revision": revision, "kind": kind, "backend": backend, "step_key": step_key,
            "config": config, "created_by": user})
        if created:
            _enqueue([run.pk])
    return run, created


def runs_request_for_chains(*, chains, kind: str, backend_name: str | None = None, user=None,
                            batch: int = 50) -> list[int]:
    """Runs of `kind` for many chains (their current revisions), new ones queued `batch` chains per task.
    Returns every run's id, cached ones included."""
    _check_kind(kind)
    if kind == PassKind.DEBATE:
        raise ValidationFailed("A debate is about one step: start it from the workspace or the API with a step_key.",
                               field="pass")
    chains = list(chains)
    if not chains:
        return []
    policy = OversightPolicy.objects.filter(project_id=chains[0].project_id).first()
    backend = None if kind == PassKind.SYMBOLIC else backend_resolve(name=backend_name, policy=policy)
    config = _config(kind, policy, {})
    rows = [OversightRun(chain=c, revision=c.revision, kind=kind, backend=backend, config=config, created_by=user,
                         cache_key=_cache_key(c.pk, c.revision, kind, None, config, backend)) for c in chains]
    keys = [r.cache_key for r in rows]
    with transaction.atomic():
        existing = set(OversightRun.objects.filter(cache_key__in=keys).values_list("cache_key", flat=True))
        OversightRun.objects.bulk_create([r for r in rows if r.cache_key not in existing], ignore_conflicts=True)
        ids = dict(OversightRun.objects.filter(cache_key__in=keys).values_list("cache_key", "id"))
        new = [ids[k] for k in keys if k not in existing]
        for start in range(0, len(new), batch):
            _enqueue(new[start:start + batch])
    return [ids[k] for k in keys]


def run_retry(*, run: OversightRun) -> OversightRun:
    """A failed run back to the queue; what it stored stays and is not asked again."""
    with transaction.atomic():
        changed = OversightRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.QUEUED, error="", finished_at=None)
        if not changed:
            run.refresh_from_db(fields=["status"])
            raise Conflict(f"Only a failed run can be retried; this one is {run.status}.")
        _enqueue([run.pk])
        transaction.on_commit(lambda: broadcast_chain_event(run.chain_id, "run", run_out(_fresh(run.pk))))
    run.refresh_from_db()
    return run


def _enqueue(ids: list[int]) -> None:
    from ..tasks import oversight_runs_execute_task  # tasks import services; here to keep that one-way

    oversight_runs_execute_task.delay_on_commit(ids)


def _fresh(pk: int) -> OversightRun:
    return OversightRun.objects.select_related("backend").get(pk=pk)


# --- executing runs ------------------------------------------------------------------------------------

@dataclass
class _Job:
    run: OversightRun
    problem: str
    keys: list[int]
    texts: list[str]
    existing: set = field(default_factory=set)  # step keys (critique) or (round, side) (debate) already stored


def _claim(pk: int) -> _Job | None:
    """Take one queued run (conditional update: a second worker, or a message delivered twice, gets None)."""
    claimed = OversightRun.objects.filter(pk=pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(),
        attempts=F("attempts") + 1, error="")
    if not claimed:
        return None  # done, failed, or running elsewhere: running twice changes nothing
    run = OversightRun.objects.select_related("chain__problem", "backend").get(pk=pk)
    steps = chain_steps(chain=run.chain, revision=run.revision)
    job = _Job(run=run, problem=run.chain.problem.statement, keys=steps.keys, texts=steps.texts)
    if run.kind == PassKind.CRITIQUE:
        job.existing = set(Critique.objects.filter(run=run).values_list("step_key", flat=True))
        total = len(steps.keys)
    elif run.kind == PassKind.DEBATE:
        job.existing = set(DebateTurn.objects.filter(run=run).values_list("round", "side"))
        total = 2 * run.config["rounds"] + (1 if run.config.get("judge") == "model" else 0)
    else:
        total = len(steps.keys)
    run.total, run.done = total, len(job.existing)
    OversightRun.objects.filter(pk=pk).update(total=run.total, done=run.done)
    broadcast_chain_event(run.chain_id, "run", run_out(run))
    return job


def _finish(run_id: int, *, error: str = "") -> OversightRun:
    status = RunStatus.FAILED if error else RunStatus.DONE
    OversightRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status, error=error[:MAX_TEXT], finished_at=timezone.now())
    run = _fresh(run_id)
    if run.status == RunStatus.DONE and run.kind == PassKind.CRITIQUE and run.revision == run.chain.revision:
        _prioritise(run)
    broadcast_chain_event(run.chain_id, "run", run_out(run))
    return run


CONVINCING_WRONG_PRIORITY = 100


def runs_maintain(*, stale_seconds: int | None = None) -> dict:
    """Runs whose worker died: a running run with no heartbeat for `stale_seconds` (default: three times its
    backend's timeout, at least 10 minutes) goes back to the queue, what it stored kept, at most
    MAX_ATTEMPTS times; then it fails with the reason. Celery beat calls this every minute."""
    now = timezone.now()
    requeued, failed = [], []
    for run in OversightRun.objects.filter(status=RunStatus.RUNNING).select_related("backend"):
        limit = stale_seconds if stale_seconds is not None else \
            max(600, 3 * (run.backend.timeout_seconds if run.backend_id else 60))
        if run.heartbeat_at and (now - run.heartbeat_at).total_seconds() < limit:
            continue
        with transaction.atomic():
            if run.attempts >= OversightRun.MAX_ATTEMPTS:
                changed = OversightRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                                      heartbeat_at=run.heartbeat_at).update(
                    status=RunStatus.FAILED, finished_at=now,
                    error=f"lost its worker {run.attempts} times (no progress for {limit:g} s each time); "
                          "retry it when the workers are healthy")
                if changed:
                    failed.append(run.pk)
            else:
                changed = OversightRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                                      heartbeat_at=run.heartbeat_at).update(status=RunStatus.QUEUED)
                if changed:
                    requeued.append(run.pk)
                    _enqueue([run.pk])
    return {"requeued": requeued, "failed": failed}


def _prioritise(run: OversightRun) -> None:
    """A convincing wrong answer (oversight/priority.py) goes to the front of a priority-ordered queue.

    The one write this app makes to annotation's tables: `Chain.priority`, which exists for ordering the
    queue and is never a label. Greatest(): a higher priority a researcher set stays.
    """
    verdicts = list(Critique.objects.filter(run=run).values_list("verdict", flat=True))
    chain = Chain.objects.select_related("problem").get(pk=run.chain_id)
    if len(verdicts) == run.total and convincing_wrong(verdicts, chain.final_answer, chain.problem.reference_answer):
        Chain.objects.filter(pk=chain.pk).update(priority=Greatest(F("priority"), CONVINCING_WRONG_PRIORITY))


def runs_execute(*, run_ids: list[int]) -> list[OversightRun]:
    """Execute the queued runs among `run_ids` (the worker's entry point; safe to call twice)."""
    kinds = dict(OversightRun.objects.filter(pk__in=run_ids, status=RunStatus.QUEUED).values_list("pk", "kind"))
    backends = dict(OversightRun.objects.filter(pk__in=list(kinds)).values_list("pk", "backend_id"))
    by_backend: dict[int, list[int]] = {}
    for pk in run_ids:
        if kinds.get(pk) == PassKind.SYMBOLIC:
            job = _claim(pk)
            if job is None:
                continue
            try:
                _symbolic(job)
            except Exception as exc:  # a bug must end the run visibly, never leave it running
                log.exception("symbolic run %s failed", pk)
                _finish(pk, error=f"internal error in the symbolic checker: {exc!r}")
            else:
                _finish(pk)
        elif pk in kinds:
            by_backend.setdefault(backends[pk], []).append(pk)
    for ids in by_backend.values():
        asyncio.run(_model_runs(ModelBackend.objects.get(pk=backends[ids[0]]), ids))
    return list(OversightRun.objects.filter(pk__in=run_ids).select_related("backend").order_by("id"))


def _symbolic(job: _Job) -> None:
    started = time.monotonic()
    rows = []
    for key, findings in zip(job.keys, symbolic.check_steps(job.texts), strict=True):
        if findings:
            rows.append(SymbolicCheck(run=job.run, step_key=key, outcome=symbolic.step_outcome(findings), findings=[
                {"expression": f.expression[:500], "outcome": f.outcome, "lhs": f.lhs_value, "rhs": f.rhs_value,
                 "detail": f.detail[:500], "rule": f.rule, "start": f.start, "end": f.end} for f in findings]))
    with transaction.atomic():
        SymbolicCheck.objects.filter(run=job.run).delete()  # a rerun writes the same rows again
        made = SymbolicCheck.objects.bulk_create(rows)
        OversightRun.objects.filter(pk=job.run.pk).update(done=len(job.keys))
    payload = {"run": job.run.pk, "checks": [check_out(c) for c in made]}
    transaction.on_commit(lambda: broadcast_chain_event(job.run.chain_id, "results", payload))
    log.debug("symbolic run %s: %d steps in %.3f s", job.run.pk, len(job.keys), time.monotonic() - started)


class _Writer:
    """Collects results as they arrive and writes them every FLUSH_SECONDS or FLUSH_ROWS, then broadcasts."""

    def __init__(self):
        self.pending: list[tuple[_Job, object, ChatReply | None]] = []
        self.last = time.monotonic()
        self.lock = asyncio.Lock()

    async def add(self, job: _Job, row, reply: ChatReply | None) -> None:
        self.pending.append((job, row, reply))
        if len(self.pending) >= FLUSH_ROWS or time.monotonic() - self.last >= FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        async with self.lock:
            batch, self.pending = self.pending, []
            self.last = time.monotonic()
            if not batch:
                return
            events = await sync_to_async(_write_batch)(batch)
        for chain_id, event, payload in events:
            await chain_event_async(chain_id, event, payload)


def _write_batch(batch: list) -> list[tuple[int, str, dict]]:
    """One transaction for a batch of results of any runs; returns the broadcasts to send (after commit)."""
    per_run: dict[int, dict] = {}
    with transaction.atomic():
        for job, row, reply in batch:
            entry = per_run.setdefault(job.run.pk, {"job": job, "critiques": [], "turns": [], "verdicts": [],
                                                    "malformed": 0, "prompt": 0, "completion": 0})
            if reply is not None:
                entry["prompt"] += reply.prompt_tokens
                entry["completion"] += reply.completion_tokens
            if isinstance(row, Critique):
                entry["critiques"].append(row)
                entry["malformed"] += row.verdict == "malformed"
            elif isinstance(row, DebateTurn):
                entry["turns"].append(row)
                entry["malformed"] += row.malformed
            else:
                entry["verdicts"].append(row)
        events = []
        for run_id, entry in per_run.items():
            critiques = Critique.objects.bulk_create(entry["critiques"])
            turns = DebateTurn.objects.bulk_create(entry["turns"])
            verdicts = DebateVerdict.objects.bulk_create(entry["verdicts"])
            OversightRun.objects.filter(pk=run_id).update(
                done=F("done") + len(critiques) + len(turns) + len(verdicts),
                malformed=F("malformed") + entry["malformed"], heartbeat_at=timezone.now(),
                prompt_tokens=F("prompt_tokens") + entry["prompt"],
                completion_tokens=F("completion_tokens") + entry["completion"])
            run = entry["job"].run  # its counters kept in step here: no read back per batch
            run.done += len(critiques) + len(turns) + len(verdicts)
            run.malformed += entry["malformed"]
            payload = {"run": run_out(run), "critiques": [critique_out(c) for c in critiques],
                       "turns": [turn_out(t) for t in turns], "verdicts": [verdict_out(v) for v in verdicts]}
            events.append((run.chain_id, "results", payload))
    return events


async def _model_runs(backend: ModelBackend, run_ids: list[int]) -> None:
    """Every request of every run through one client. Each run is claimed, executed and finished on its own, so
    the first runs' requests go out while the others are still being read (the database work of all of them
    goes through one thread: sync_to_async's). A run whose request failed stops with the error; the others
    go on."""
    writer = _Writer()
    async with ChatClient(backend_config(backend)) as client:
        async def one(pk: int) -> None:
            job = await sync_to_async(_claim)(pk)
            if job is None:
                return
            error = ""
            try:
                if job.run.kind == PassKind.CRITIQUE:
                    await _critique(client, writer, job)
                else:
                    await _debate(client, writer, job)
            except ModelError as exc:
                error = f"{exc.kind}: {exc.message}"
            except Exception as exc:
                log.exception("run %s failed", pk)
                error = f"internal error: {exc!r}"
            await writer.flush()  # this run's results are stored before it is marked finished
            await sync_to_async(_finish)(pk, error=error)

        await asyncio.gather(*(one(pk) for pk in run_ids))
        await writer.flush()
    await sync_to_async(close_old_connections)()


async def _critique(client: ChatClient, writer: _Writer, job: _Job) -> None:
    context = job.run.config.get("context_chars", critique_pass.CONTEXT_CHARS)

    async def one(index: int) -> None:
        text = job.texts[index]
        reply = await client.chat(critique_pass.messages(job.problem, job.texts, index, context),
                                  schema=critique_pass.SCHEMA, max_tokens=critique_pass.MAX_TOKENS)
        result = critique_pass.parse(reply.content, reply.finish_reason, text)
        row = Critique(run=job.run, step_key=job.keys[index], verdict=result.verdict, confidence=result.confidence,
                       explanation=result.explanation, quote=result.quote, quote_verified=result.quote_verified,
                       raw=result.raw)
        await writer.add(job, row, reply)

    tasks = [asyncio.create_task(one(i)) for i, key in enumerate(job.keys) if key not in job.existing]
    try:
        for finished in asyncio.as_completed(tasks):
            await finished
    finally:  # the first failure stops this run's other requests; what came back is still written
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _debate(client: ChatClient, writer: _Writer, job: _Job) -> None:
    cfg = job.run.config
    index = job.keys.index(job.run.step_key)
    source = job.problem + "\n" + "\n".join(job.texts)
    stored = await sync_to_async(lambda: [debate_pass.Turn(t.round, t.side, t.text, t.quotes, t.malformed) for t in
                                          DebateTurn.objects.filter(run=job.run).order_by("round", "id")])()
    turns = list(stored)

    async def speak(round_: int, side: str, seen: list) -> debate_pass.Turn:
        reply = await client.chat(
            debate_pass.messages(job.problem, job.texts, index, side, seen, round_, cfg["rounds"], cfg["turn_chars"]),
            schema=debate_pass.schema(cfg["turn_chars"]), max_tokens=max(200, cfg["turn_chars"] // 2))
        turn = debate_pass.parse_turn(reply.content, reply.finish_reason, round_, side, source, cfg["turn_chars"])
        await writer.add(job, DebateTurn(run=job.run, round=round_, side=side, text=turn.text, quotes=turn.quotes,
                                         malformed=turn.malformed), reply)
        await writer.flush()  # a debate is read as it happens: every turn goes out at once
        return turn

    for round_ in range(1, cfg["rounds"] + 1):
        todo = [side for side in debate_pass.SIDES if (round_, side) not in job.existing]
        if cfg["mode"] == "simultaneous":
            seen = [t for t in turns if t.round < round_]
            turns += await asyncio.gather(*(speak(round_, side, seen) for side in todo))
        else:
            for side in todo:
                turns.append(await speak(round_, side, list(turns)))
    if cfg.get("judge") == "model":
        reply = await client.chat(debate_pass.judge_messages(job.problem, job.texts, index, turns),
                                  schema=debate_pass.JUDGE_SCHEMA, max_tokens=400)
        try:
            decided = debate_pass.parse_judge(reply.content, reply.finish_reason)
        except Malformed as exc:
            raise ModelError("bad_response", f"the model judge's answer could not be used: {exc}") from None
        await writer.add(job, DebateVerdict(run=job.run, judge_model=job.run.backend.model, **decided), reply)
