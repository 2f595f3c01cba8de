"""The project's measurement report: does assistance help (per arm), and how good are the critics.

Reference labels, per step key: the chain's imported reference labels (ProcessBench experts, PRM800K) when
it has them, else a planted error (its step is wrong, the others are taken as clean), else the majority
of the submitted annotators' ratings (ties left out). A step is wrong when its rating is below 0.
"""

from collections import Counter, defaultdict

import orjson

from annotation.models import Assignment, AssignmentStatus, ImportedLabelSet, Project, StepLabel
from annotation.selectors import chain_steps

from ..measure import critic_scores, mean_interval, wilson
from ..models import (
    Arm,
    AssignmentArm,
    AssistanceRating,
    Critique,
    OversightRun,
    PassKind,
    RunStatus,
    SymbolicCheck,
)

MAX_CHAINS = 20_000  # a report reads every submitted label of the project; past this, export and analyse offline


def _references(project: Project, chains: list) -> dict[int, dict[int, bool]]:
    """chain id -> {step key: wrong?} from imported labels or a planted error."""
    refs: dict[int, dict[int, bool]] = {}
    label_sets = {row[0]: row for row in ImportedLabelSet.objects.filter(
        chain__project=project, replaced_at__isnull=True).values_list("chain_id", "revision", "ratings")}
    for chain in chains:
        if chain.pk in label_sets:
            _, revision, ratings = label_sets[chain.pk]
            keys = chain_steps(chain=chain, revision=revision).keys
            refs[chain.pk] = {key: rating < 0 for key, rating in zip(keys, orjson.loads(ratings), strict=False)
                              if rating is not None}
        elif chain.planted and "step_key" in chain.planted:
            keys = chain_steps(chain=chain).keys
            refs[chain.pk] = {key: key == chain.planted["step_key"] for key in keys}
    return refs


def project_report(*, project: Project) -> dict:
    chains = list(project.chains.order_by("id")[:MAX_CHAINS])
    refs = _references(project, chains)
    submitted = list(Assignment.objects.filter(chain__project=project, status=AssignmentStatus.SUBMITTED)
                     .values_list("id", "chain_id", "active_seconds"))
    arms = dict(AssignmentArm.objects.filter(assignment__chain__project=project).values_list("assignment_id", "arm"))
    labels = defaultdict(dict)
    for assignment_id, key, rating in StepLabel.objects.filter(
            assignment__chain__project=project, assignment__status=AssignmentStatus.SUBMITTED,
            rating__isnull=False).values_list("assignment_id", "step_key", "rating"):
        labels[assignment_id][key] = rating
    # Majority of submitted annotators where no reference exists.
    votes: dict[int, dict[int, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for assignment_id, chain_id, _ in submitted:
        for key, rating in labels[assignment_id].items():
            votes[chain_id][key][rating < 0] += 1
    final = {cid: dict(ref) for cid, ref in refs.items()}
    for chain_id, per_key in votes.items():
        if chain_id in final:
            continue
        final[chain_id] = {key: c[True] > c[False] for key, c in per_key.items() if c[True] != c[False]}

    per_arm = {}
    for arm in Arm.values:
        found = errors = false_neg = clean = 0
        seconds = []
        for assignment_id, chain_id, active in submitted:
            if arms.get(assignment_id, Arm.UNASSISTED) != arm:
                continue
            seconds.append(active)
            ref = refs.get(chain_id)
            if not ref:
                continue
            mine = labels[assignment_id]
            for key, wrong in ref.items():
                if key not in mine:
                    continue
                if wrong:
                    errors += 1
                    found += mine[key] < 0
                else:
                    clean += 1
                    false_neg += mine[key] < 0
        per_arm[arm] = {"assignments": len(seconds), "error_recall": wilson(found, errors),
                        "false_minus_one_rate": wilson(false_neg, clean),
                        "active_seconds_per_chain": mean_interval(seconds)}

    critics = {}
    runs = OversightRun.objects.filter(chain__project=project, status=RunStatus.DONE,
                                       kind__in=[PassKind.CRITIQUE, PassKind.SYMBOLIC]).select_related("backend")
    by_name: dict[str, list] = defaultdict(list)
    for run in runs:
        by_name[f"{run.kind}:{run.backend.name}" if run.backend_id else run.kind].append(run)
    for name, group in by_name.items():
        pairs, malformed = [], 0
        ids = [r.pk for r in group]
        chain_of = {r.pk: r.chain_id for r in group}
        if group[0].kind == PassKind.CRITIQUE:
            flags = {}
            for run_id, key, verdict in Critique.objects.filter(run_id__in=ids).values_list("run_id", "step_key",
                                                                                           "verdict"):
                malformed += verdict == "malformed"
                if verdict != "malformed":
                    flags[(chain_of[run_id], key)] = verdict == "incorrect"
            for (chain_id, key), flagged in flags.items():
                if key in final.get(chain_id, {}):
                    pairs.append((flagged, final[chain_id][key]))
        else:
            flagged_keys = set()
            for run_id, key, outcome in SymbolicCheck.objects.filter(run_id__in=ids).values_list("run_id", "step_key",
                                                                                                "outcome"):
                if outcome == "mismatch":
                    flagged_keys.add((chain_of[run_id], key))
            for run in group:
                for key, wrong in final.get(run.chain_id, {}).items():
                    pairs.append(((run.chain_id, key) in flagged_keys, wrong))
        critics[name] = {**critic_scores(pairs), "runs": len(group), "malformed": malformed}

    ratings = Counter(AssistanceRating.objects.filter(assignment__chain__project=project)
                      .exclude(rating="").values_list("rating", flat=True))
    return {"project": project.slug, "arms": per_arm, "critics": critics,
            "ratings": dict(ratings), "chains_with_reference": len(refs), "chains_read": len(chains)}
