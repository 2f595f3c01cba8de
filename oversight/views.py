"""HTML pages of the oversight app: the project's model-assistance page (settings, runs, the report). Thin."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import Http404
from django.shortcuts import render

from annotation.exceptions import NotFound
from annotation.selectors import MANAGE_ROLES, project_get_for_user

from .models import ModelBackend, OversightPolicy, OversightRun
from .services.report import project_report


def _interval(measure: dict) -> str:
    if not measure or measure.get("value") is None:
        return "–"
    if measure.get("low") is None:
        return f"{measure['value']:.3g}"
    if measure["high"] <= 1 and measure["low"] >= 0 and "k" in measure:
        return f"{measure['value']:.1%} ({measure['low']:.1%}–{measure['high']:.1%}; {measure['k']}/{measure['n']})"
    return f"{measure['value']:.1f} ({measure['low']:.1f}–{measure['high']:.1f}; n={measure['n']})"


@login_required
def project_oversight(request, slug):
    try:
        project = project_get_for_user(slug=slug, user=request.user, roles=(*MANAGE_ROLES, "reviewer"))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    policy = OversightPolicy.objects.filter(project=project).select_related("backend").first()
    report = project_report(project=project)
    runs = (OversightRun.objects.filter(chain__project=project).values("kind", "status")
            .annotate(n=Count("id"), done=Sum("done"), malformed=Sum("malformed")).order_by("kind", "status"))
    arms = [{"arm": arm, "assignments": m["assignments"], "recall": _interval(m["error_recall"]),
             "false_minus": _interval(m["false_minus_one_rate"]),
             "seconds": _interval(m["active_seconds_per_chain"])} for arm, m in report["arms"].items()]
    critics = [{"name": name, "runs": c["runs"], "precision": _interval(c["precision"]),
                "recall": _interval(c["recall"]), "false_alarm": _interval(c["false_alarm_rate"]),
                "malformed": c["malformed"]} for name, c in report["critics"].items()]
    backend = policy.backend if policy and policy.backend_id else ModelBackend.objects.filter(name="default").first()
    return render(request, "oversight/project.html", {
        "project": project, "policy": policy, "backend": backend, "runs": list(runs), "arms": arms,
        "critics": critics, "ratings": report["ratings"], "report": report})
