"""HTML pages of quality control: the review queue, a chain's adjudication, the dashboard. Thin."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe

from annotation.exceptions import NotFound, StepwiseError
from annotation.selectors import membership_role

from .adjudication import (
    FinalLabelInput,
    chain_adjudicate,
    chain_request_debate,
    chain_send_back,
    member_screening_set,
    review_policy_set,
    review_queue_refresh,
)
from .quality.charts import Series, bar_chart, line_chart
from .quality_models import MAX_NOTE, QUEUE_STATUSES, ConsensusMethod, ItemStatus, QueueRule, Unresolved
from .quality_selectors import (
    ADJUDICATE_ROLES,
    MAX_WINDOW,
    POLICY_ROLES,
    adjudication_data,
    chain_get_for_review,
    policy_of,
    project_get_for_review,
    review_queue_counts,
    review_queue_list,
    screening_results,
)
from .quality_tasks import project_quality_for_page

WINDOW = 100  # steps per adjudication page


def _reviewable(fn):
    def view(request, *args, **kwargs):
        try:
            return fn(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    view.__name__ = fn.__name__
    return login_required(view)


def _policy_post(request, project):
    """The researcher's form on the queue page: rule, threshold, minimum passes, names, fast floor, gold share."""
    values: dict = {"queue_rule": request.POST.get("queue_rule", ""),
                    "consensus": request.POST.get("consensus", ""),
                    "show_annotator_names": request.POST.get("show_annotator_names") == "on"}
    if "when_unresolved" in request.POST:
        values["when_unresolved"] = request.POST["when_unresolved"]
    numbers = {"alpha_threshold": float, "min_annotators": int, "fast_seconds_per_step": float, "gold_share": float,
               "max_annotators": int, "screening_pass_mark": float}
    for name, kind in numbers.items():
        raw = request.POST.get(name, "").strip()
        if name in ("max_annotators", "screening_pass_mark") and name not in request.POST:
            continue  # a form from before these settings: they keep their values
        try:
            values[name] = kind(raw)
        except ValueError:
            messages.error(request, f"{name.replace('_', ' ')}: '{raw[:40]}' is not a number. Nothing was changed.")
            return redirect("review-queue", slug=project.slug)
    try:
        review_policy_set(project=project, user=request.user, **values)
    except StepwiseError as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
        return redirect("review-queue", slug=project.slug)
    messages.success(request, "Review policy saved; chains are judged again as their passes change.")
    return redirect("review-queue", slug=project.slug)


@_reviewable
def review_queue(request, slug):
    project = project_get_for_review(slug=slug, user=request.user)
    if request.method == "POST":
        if membership_role(user=request.user, project=project) not in POLICY_ROLES:
            raise Http404("Only researchers and admins set the review policy.")
        if "screening_action" in request.POST:
            return _screening_post(request, project)
        return _policy_post(request, project)
    status = request.GET.get("status", ItemStatus.OPEN)
    if status not in QUEUE_STATUSES:
        status = ItemStatus.OPEN
    review_queue_refresh(project=project)
    return render(request, "review/quality_queue.html", {
        "project": project, "status": status, "statuses": [(s, ItemStatus(s).label) for s in QUEUE_STATUSES],
        "items": review_queue_list(project=project, status=status), "counts": review_queue_counts(project=project),
        "policy": policy_of(project=project), "role": membership_role(user=request.user, project=project),
        "can_set_policy": membership_role(user=request.user, project=project) in POLICY_ROLES,
        "rules": QueueRule.choices, "consensus_choices": ConsensusMethod.choices,
        "unresolved_choices": Unresolved.choices, "screening": screening_results(project=project),
    })


def _screening_post(request, project):
    """The researcher's buttons on a failed annotator's row: let them through, or give them the set again."""
    annotator, action = request.POST.get("screening_annotator", ""), request.POST.get("screening_action", "")
    try:
        member_screening_set(project=project, user=request.user, annotator=annotator, action=action)
    except StepwiseError as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
    else:
        done = "may now take real work" if action == "waive" else "will be served the screening set again"
        messages.success(request, f"{annotator} {done}.")
    return redirect(f"{reverse('review-queue', args=[project.slug])}#screening")


def _int(raw, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw), low), high)
    except (TypeError, ValueError):
        return default


@_reviewable
def adjudicate(request, pk):
    chain = chain_get_for_review(pk=pk, user=request.user)
    start = _int(request.GET.get("start"), 0, 0, 10_000_000)
    size = _int(request.GET.get("size"), WINDOW, 1, MAX_WINDOW)
    contested = request.GET.get("contested") == "1"
    if request.method == "POST":
        return _adjudicate_post(request, chain, start, size, contested)
    data = adjudication_data(chain=chain, user=request.user, start=start, size=size, contested_only=contested)
    return _adjudicate_page(request, chain, data, contested)


def _adjudicate_page(request, chain, data, contested, status=200, errors=None):
    window = data["window"]
    base = reverse("review-adjudicate", args=[chain.pk])
    flag = "&contested=1" if contested else ""
    prev_url = f"{base}?start={max(0, window['start'] - window['size'])}{flag}" if window["start"] > 0 else None
    next_start = window["start"] + window["size"]
    next_url = f"{base}?start={next_start}{flag}" if next_start < window["total"] else None
    return render(request, "review/quality_adjudicate.html", {
        "chain": chain, "project": chain.project, "data": data, "contested": contested,
        "prev_url": prev_url, "next_url": next_url, "errors": errors or [],
        "request_key": uuid.uuid4().hex, "max_note": MAX_NOTE,
        "rating_choices": [(r, f"{r:+d}".replace("-", "−") if r else "0") for r in data["ratings"]],
    }, status=status)


def _adjudicate_post(request, chain, start, size, contested):
    if membership_role(user=request.user, project=chain.project) not in ADJUDICATE_ROLES:
        raise Http404("Only reviewers and admins adjudicate.")
    action = request.POST.get("action", "adjudicate")
    note = request.POST.get("note", "")
    key = request.POST.get("request_key", "")[:64]
    try:
        if "debate" in request.POST:
            step = _int(request.POST["debate"], -1, -1, 10_000_000)
            chain_request_debate(chain=chain, reviewer=request.user, step=step, note=note, request_key=key)
            messages.success(request, f"A debate on step {step + 1} was requested.")
            return redirect(f"{reverse('review-adjudicate', args=[chain.pk])}?start={start}"
                            f"{'&contested=1' if contested else ''}")
        if action == "rework":
            chain_send_back(chain=chain, reviewer=request.user, note=note, request_key=key)
            messages.success(request, f"{chain.source_id} was sent back for rework.")
            return redirect("review-queue", slug=chain.project.slug)
        labels = []
        for name, value in request.POST.items():
            if name.startswith("final_") and value != "":
                step = _int(name.removeprefix("final_"), -1, -1, 10_000_000)
                rating = _int(value, 999, -999, 999)
                labels.append(FinalLabelInput(step=step, rating=rating, reason=request.POST.get(f"reason_{step}", "")))
        revision = _int(request.POST.get("revision"), 0, 0, 10_000_000) or None
        decision = chain_adjudicate(chain=chain, reviewer=request.user, labels=labels, note=note, request_key=key,
                                    revision=revision)
    except StepwiseError as exc:
        data = adjudication_data(chain=chain, user=request.user, start=start, size=size, contested_only=contested)
        return _adjudicate_page(request, chain, data, contested, status=exc.status_code, errors=[exc.message])
    changed = len(decision.changes)
    messages.success(request, f"Final labels of {chain.source_id} saved: {changed} step{'s' if changed != 1 else ''} "
                              "changed. The chain is settled.")
    return redirect(f"{reverse('review-adjudicate', args=[chain.pk])}?start={start}{'&contested=1' if contested else ''}")


@_reviewable
def dashboard(request, slug):
    project = project_get_for_review(slug=slug, user=request.user)
    q = project_quality_for_page(project=project)
    people = q["annotators"]
    names = [a["annotator"] for a in people]
    per_annotator = bar_chart(names, [
        Series("agreement with consensus", [a["agreement_with_consensus"] for a in people]),
        Series("gold accuracy", [a["gold_accuracy"] for a in people]),
        Series("planted-error recall", [a["planted_recall"] for a in people]),
        Series("Dawid–Skene accuracy", [a["dawid_skene_accuracy"] for a in people]),
    ], title="Per annotator")
    positions = q["by_position"]
    xs = [(str(p["stop"]) if p["stop"] == p["start"] + 1 else f"{p['start'] + 1}–{p['stop']}") if p["stop"]
          else f"{p['start'] + 1}+" for p in positions]
    by_position = line_chart(xs, [
        Series("α ordinal", [p["krippendorff_alpha"]["value"] for p in positions],
               [p["krippendorff_alpha"]["low"] for p in positions], [p["krippendorff_alpha"]["high"] for p in positions]),
        Series("Gwet AC1", [p["gwet_ac1"]["value"] for p in positions],
               [p["gwet_ac1"]["low"] for p in positions], [p["gwet_ac1"]["high"] for p in positions]),
    ], title="Agreement by step position", lo=-0.2)
    days = q["over_time"]
    over_time = line_chart([d["day"][5:] for d in days], [
        Series("percent agreement", [d["percent_agreement"] for d in days]),
        Series("Gwet AC1", [d["gwet_ac1"] for d in days]),
    ], title="Agreement over time", lo=-0.2)
    headline = [(name, label, q[name]) for name, label in (
        ("krippendorff_alpha", "Krippendorff's α (ordinal)"), ("krippendorff_alpha_nominal", "Krippendorff's α (nominal)"),
        ("gwet_ac1", "Gwet's AC1"), ("fleiss_kappa", "Fleiss' κ"), ("percent_agreement", "Percent agreement"),
        ("first_error_agreement", "First-error agreement"))]
    return render(request, "review/quality_dashboard.html", {
        "project": project, "q": q, "headline": headline,
        # Built by review/quality/charts.py, which escapes every label and writes no script.
        "chart_annotators": mark_safe(per_annotator),  # noqa: S308
        "chart_positions": mark_safe(by_position),  # noqa: S308
        "chart_time": mark_safe(over_time),  # noqa: S308
    })
