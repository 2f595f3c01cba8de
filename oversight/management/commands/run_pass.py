"""python manage.py run_pass --project SLUG --pass symbolic|critique|debate [--backend NAME] [--chains ID,...]

Asks for the pass on the project's chains (their current revisions; cached runs are reused, failed ones
retried), waits with a progress bar while the worker runs them (or runs them here with --in-process),
and exits 0 when every run finished, malformed answers included (they are recorded and counted), or
non-zero with the reasons when runs failed or the model server cannot be reached.
"""

import asyncio
import time

import aiohttp
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from tqdm import tqdm

from annotation.exceptions import StepwiseError
from annotation.models import Chain, Project
from annotation.selectors import chain_steps
from oversight.models import OversightPolicy, OversightRun, PassKind, RunStatus
from oversight.services import (
    backend_config,
    backend_resolve,
    run_request,
    run_retry,
    runs_execute,
    runs_request_for_chains,
)


async def _probe(url: str, api_key: str) -> str | None:
    """None if something answers HTTP at the server's /models, else why not."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                session.get(url.rstrip("/") + "/models", headers=headers) as response:
            await response.read()
            return None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


class Command(BaseCommand):
    help = "Run a model-assistance pass (symbolic, critique, debate) over a project's chains and wait for it."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--pass", dest="kind", required=True, choices=PassKind.values)
        parser.add_argument("--backend", help="A model backend's name (default: the project's, else `default`).")
        parser.add_argument("--chains", help="Comma-separated source ids (default: every chain of the project).")
        parser.add_argument("--step-index", type=int, help="Debate: the 0-based step to debate (one chain).")
        parser.add_argument("--in-process", action="store_true", help="Run here instead of in the worker.")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="Give up waiting after this many seconds.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, project, kind, backend, chains, step_index, in_process, timeout, no_progress, **opts):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project '{project}'. Projects: "
                               f"{', '.join(Project.objects.values_list('slug', flat=True)[:20]) or 'none'}.")
        selected = Chain.objects.filter(project=target).order_by("id")
        if chains:
            wanted = [c.strip() for c in chains.split(",") if c.strip()]
            selected = selected.filter(source_id__in=wanted)
            missing = set(wanted) - set(selected.values_list("source_id", flat=True))
            if missing:
                raise CommandError(f"No chain {', '.join(sorted(missing)[:5])} in project '{project}'.")
        if kind == PassKind.DEBATE and (step_index is None or not chains):
            raise CommandError("A debate is about one step of one chain: give --chains ID and --step-index N.")
        try:
            if kind != PassKind.SYMBOLIC:
                model = backend_resolve(name=backend, policy=OversightPolicy.objects.filter(project=target).first())
                config = backend_config(model)
                problem = asyncio.run(_probe(config.base_url, config.api_key))
                if problem:
                    raise CommandError(f"Cannot reach the model server of backend '{model.name}' at {config.base_url} "
                                       f"({problem}). Start it, or fix the backend's base URL; nothing was queued.")
            if kind == PassKind.DEBATE:
                ids = self._debate(selected, backend, step_index)
            else:
                ids = runs_request_for_chains(chains=selected, kind=kind, backend_name=backend)
        except StepwiseError as exc:
            raise CommandError(exc.message) from None
        for run in OversightRun.objects.filter(pk__in=ids, status=RunStatus.FAILED):
            run_retry(run=run)
        if not ids:
            self.stdout.write(f"Project '{project}' has no chains: nothing to do.")
            return
        if in_process:
            runs_execute(run_ids=ids)
        self._wait(ids, timeout, no_progress)

    def _debate(self, selected, backend, step_index):
        chains = list(selected[:2])
        if len(chains) != 1 or step_index is None:
            raise CommandError("A debate is about one step of one chain: give --chains ID and --step-index N.")
        keys = chain_steps(chain=chains[0]).keys
        if not 0 <= step_index < len(keys):
            raise CommandError(f"--step-index must be from 0 to {len(keys) - 1} for chain '{chains[0].source_id}'.")
        run, _ = run_request(chain=chains[0], kind=PassKind.DEBATE, backend_name=backend, step_key=keys[step_index])
        return [run.pk]

    def _wait(self, ids, timeout, no_progress):
        runs = OversightRun.objects.filter(pk__in=ids)
        bar = tqdm(total=None, unit="step", file=self.stderr._out, disable=no_progress, leave=False)
        deadline = time.monotonic() + timeout
        warned = False
        started = time.monotonic()
        while True:
            open_runs = runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()
            sums = runs.aggregate(done=Sum("done"), total=Sum("total"))
            bar.total = max(sums["total"] or 0, 1)
            bar.n = sums["done"] or 0
            bar.refresh()
            if not open_runs:
                break
            if time.monotonic() > deadline:
                bar.close()
                raise CommandError(f"{open_runs} run(s) still open after {timeout:g} s; they go on in the worker.")
            if not warned and time.monotonic() - started > 30 and not runs.exclude(status=RunStatus.QUEUED).exists():
                self.stderr.write("No worker has taken the runs for 30 s: is `celery -A config worker -Q oversight` "
                                  "running? (or use --in-process)")
                warned = True
            time.sleep(0.5)
        bar.close()
        failed = list(runs.filter(status=RunStatus.FAILED).select_related("chain").order_by("id")[:5])
        totals = runs.aggregate(done=Sum("done"), malformed=Sum("malformed"))
        if failed:
            count = runs.filter(status=RunStatus.FAILED).count()
            reasons = "\n".join(f"  chain {r.chain.source_id}: {r.error}" for r in failed)
            raise CommandError(f"{count} of {len(ids)} run(s) failed (retry with the same command):\n{reasons}")
        self.stdout.write(self.style.SUCCESS(
            f"{len(ids)} run(s) done: {totals['done'] or 0} results, {totals['malformed'] or 0} malformed answers "
            "recorded as such."))
