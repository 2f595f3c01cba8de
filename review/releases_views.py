"""HTML pages of releases and judge evaluations: thin; the pages call the API from static/js/releases.js."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from annotation.exceptions import NotFound

from .evaluation_plots import PUBLISHED_AVERAGE_F1, f1_bars, reliability
from .releases import release_live_progress
from .releases_build import RELEASE_FORMATS
from .releases_formats import NEUTRAL_CHOICES
from .releases_models import LabelSource
from .releases_selectors import evaluation_get_for_user, release_get_for_user, release_list_for_user


@login_required
def release_list(request, slug):
    try:
        project, releases = release_list_for_user(project_slug=slug, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    releases = list(releases[:100])
    for release in releases:
        release.live = release_live_progress(release)
    return render(request, "review/releases_list.html", {
        "project": project, "releases": releases, "formats": RELEASE_FORMATS, "label_sources": LabelSource.choices,
        "neutral_choices": NEUTRAL_CHOICES})


@login_required
def release_detail(request, pk):
    try:
        release = release_get_for_user(release_id=pk, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    evaluations = list(release.evaluations.order_by("-id")[:50])
    for e in evaluations:
        e.average = e.results.get("measures", {}).get("f1:average", {}).get("value")
    others = release.project.releases.exclude(pk=release.pk).filter(status="done").order_by("-id")[:50]
    return render(request, "review/releases_detail.html", {
        "release": release, "project": release.project, "live": release_live_progress(release),
        "files": release.files.exclude(kind="selection").order_by("path"), "others": others,
        "counts": release.manifest.get("counts", {}), "evaluations": evaluations,
        "splits": sorted(release.manifest.get("counts", {}).get("chains", {}))})


@login_required
def evaluation_detail(request, pk):
    try:
        evaluation = evaluation_get_for_user(evaluation_id=pk, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    results = evaluation.results
    if results.get("kind") == "position_swap":
        return render(request, "review/releases_evaluation_pairs.html", {
            "evaluation": evaluation, "release": evaluation.release, "project": evaluation.release.project,
            "results": results, "rows": [{"name": name, **value} for name, value in results.get("measures", {}).items()]})
    measures = results.get("measures", {})
    ceiling = results.get("ceiling", {})
    order = sorted(measures, key=lambda n: (not n.startswith("f1:"), n == "f1:average", n))
    rows = [{"name": name, "judge": measures[name], "human": ceiling.get(name)} for name in order]
    return render(request, "review/releases_evaluation.html", {
        "evaluation": evaluation, "release": evaluation.release, "project": evaluation.release.project,
        "results": results, "rows": rows, "bars": f1_bars(results), "reliability": reliability(results.get("calibration")),
        "published": PUBLISHED_AVERAGE_F1})
