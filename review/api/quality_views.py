"""Quality-control API: the project's measures, the review queue and policy, a chain's adjudication."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exceptions import ValidationFailed

from ..adjudication import (
    FinalLabelInput,
    chain_adjudicate,
    chain_plant_error,
    chain_request_debate,
    chain_send_back,
    chain_set_gold,
    member_screening_set,
    review_policy_set,
    review_queue_refresh,
)
from ..quality_models import MAX_NOTE, QUEUE_STATUSES, ItemStatus
from ..quality_selectors import (
    ADJUDICATE_ROLES,
    DEFAULT_RESAMPLES,
    MAX_WINDOW,
    POLICY_ROLES,
    adjudication_data,
    chain_get_for_review,
    policy_of,
    project_get_for_review,
    project_quality,
    review_queue_counts,
    review_queue_list,
    screening_results,
)
from ..quality_tasks import project_quality_for_page


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"'{raw[:40]}' is not a whole number; use {low}..{high}."]}) from None
    if not low <= value <= high:
        raise ValidationError({name: [f"{value} is outside {low}..{high}."]})
    return value


class ProjectQualityApi(APIView):
    """Agreement (α ordinal and nominal, AC1, Fleiss' κ, first-error agreement) with intervals and label counts,
    per annotator (consensus agreement, Dawid–Skene competence, gold accuracy, planted recall), by position
    and by day. Answers the last computed figures at once (`"stale": true` while newer ones are computed in
    the background); `?fresh=1` waits for current ones."""

    @extend_schema(parameters=[OpenApiParameter("resamples", int), OpenApiParameter("fresh", bool)],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request, slug):
        project = project_get_for_review(slug=slug, user=request.user)
        resamples = _int_param(request, "resamples", DEFAULT_RESAMPLES, 0, 1000)
        if request.query_params.get("fresh") in ("1", "true"):
            return Response(project_quality(project=project, resamples=resamples))
        return Response(project_quality_for_page(project=project, resamples=resamples))


class ReviewQueueApi(APIView):
    """The disagreement queue (refreshed against the project's rule first)."""

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=list(QUEUE_STATUSES))], responses=OpenApiTypes.OBJECT)
    def get(self, request, slug):
        project = project_get_for_review(slug=slug, user=request.user)
        status = request.query_params.get("status", ItemStatus.OPEN)
        if status not in QUEUE_STATUSES:
            raise ValidationError({"status": [f"'{status[:40]}' is not a queue status; use {', '.join(QUEUE_STATUSES)}."]})
        review_queue_refresh(project=project)
        return Response({"items": review_queue_list(project=project, status=status),
                         "counts": review_queue_counts(project=project)})


class ReviewPolicyInput(serializers.Serializer):
    queue_rule = serializers.CharField(required=False)
    alpha_threshold = serializers.FloatField(required=False)
    min_annotators = serializers.IntegerField(required=False)
    consensus = serializers.CharField(required=False)
    show_annotator_names = serializers.BooleanField(required=False)
    fast_seconds_per_step = serializers.FloatField(required=False)
    gold_share = serializers.FloatField(required=False)
    max_annotators = serializers.IntegerField(required=False)
    when_unresolved = serializers.CharField(required=False)
    screening_pass_mark = serializers.FloatField(required=False)


def _policy_output(project) -> dict:
    policy = policy_of(project=project)
    return {"queue_rule": policy.queue_rule, "alpha_threshold": policy.alpha_threshold,
            "min_annotators": policy.min_annotators, "consensus": policy.consensus,
            "show_annotator_names": policy.show_annotator_names,
            "fast_seconds_per_step": policy.fast_seconds_per_step, "gold_share": project.gold_share,
            "max_annotators": policy.max_annotators, "when_unresolved": policy.when_unresolved,
            "screening_pass_mark": project.screening_pass_mark}


class ReviewPolicyApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, slug):
        return Response(_policy_output(project_get_for_review(slug=slug, user=request.user)))

    @extend_schema(request=ReviewPolicyInput, responses=OpenApiTypes.OBJECT)
    def patch(self, request, slug):
        project = project_get_for_review(slug=slug, user=request.user, roles=POLICY_ROLES)
        data = ReviewPolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        review_policy_set(project=project, user=request.user, **data.validated_data)
        return Response(_policy_output(project))


class FinalLabelItem(serializers.Serializer):
    step = serializers.IntegerField(min_value=0)
    rating = serializers.IntegerField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE, default="")


class AdjudicateInput(serializers.Serializer):
    labels = FinalLabelItem(many=True, allow_empty=False)
    note = serializers.CharField(max_length=MAX_NOTE, allow_blank=True)
    request_key = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    revision = serializers.IntegerField(required=False, min_value=1)


def _decision_output(decision) -> dict:
    return {"id": decision.pk, "kind": decision.kind, "note": decision.note, "changes": decision.changes,
            "reviewer": decision.reviewer.username, "revision": decision.revision,
            "created_at": decision.created_at.isoformat()}


class ChainAdjudicationApi(APIView):
    """GET: every annotator's labels for a window of steps; POST: set final labels with a note."""

    @extend_schema(parameters=[OpenApiParameter("start", int), OpenApiParameter("size", int),
                               OpenApiParameter("contested", bool)], responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user)
        start = _int_param(request, "start", 0, 0, 10_000_000)
        size = _int_param(request, "size", 100, 1, MAX_WINDOW)
        contested = request.query_params.get("contested") in ("1", "true")
        return Response(adjudication_data(chain=chain, user=request.user, start=start, size=size,
                                          contested_only=contested))

    @extend_schema(request=AdjudicateInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user, roles=ADJUDICATE_ROLES)
        data = AdjudicateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision = chain_adjudicate(chain=chain, reviewer=request.user, note=v["note"], request_key=v["request_key"],
                                    revision=v.get("revision"),
                                    labels=[FinalLabelInput(step=x["step"], rating=x["rating"], reason=x["reason"])
                                            for x in v["labels"]])
        return Response(_decision_output(decision))


class ChainActionInput(serializers.Serializer):
    note = serializers.CharField(max_length=MAX_NOTE, allow_blank=True, required=False, default="")
    request_key = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    step = serializers.IntegerField(required=False, min_value=0)


class ChainReworkApi(APIView):
    @extend_schema(request=ChainActionInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user, roles=ADJUDICATE_ROLES)
        data = ChainActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_decision_output(chain_send_back(chain=chain, reviewer=request.user, **{
            k: data.validated_data[k] for k in ("note", "request_key")})))


class ChainDebateApi(APIView):
    @extend_schema(request=ChainActionInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user, roles=ADJUDICATE_ROLES)
        data = ChainActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        if "step" not in data.validated_data:
            raise ValidationFailed("Give the step (0-based index) to debate.", field="step")
        v = data.validated_data
        return Response(_decision_output(chain_request_debate(chain=chain, reviewer=request.user, step=v["step"],
                                                              note=v["note"], request_key=v["request_key"])))


class PlantInput(serializers.Serializer):
    rule = serializers.CharField(default="arithmetic")
    step = serializers.IntegerField(required=False, min_value=0)
    text = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE, default="")
    seed = serializers.IntegerField(required=False, default=0)


class ChainPlantApi(APIView):
    """Make a gold copy of the chain with one step altered on purpose (researchers, admins)."""

    @extend_schema(request=PlantInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user, roles=POLICY_ROLES)
        data = PlantInput(data=request.data)
        data.is_valid(raise_exception=True)
        copy = chain_plant_error(chain=chain, user=request.user, **data.validated_data)
        return Response({"id": copy.pk, "source_id": copy.source_id, "planted": copy.planted}, status=201)


class GoldInput(serializers.Serializer):
    is_gold = serializers.BooleanField(required=False)
    is_screening = serializers.BooleanField(required=False)


class ChainGoldApi(APIView):
    @extend_schema(request=GoldInput, responses=OpenApiTypes.OBJECT)
    def patch(self, request, pk):
        chain = chain_get_for_review(pk=pk, user=request.user, roles=POLICY_ROLES)
        data = GoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        chain = chain_set_gold(chain=chain, user=request.user, **data.validated_data)
        return Response({"id": chain.pk, "is_gold": chain.is_gold, "is_screening": chain.is_screening})


class ScreeningInput(serializers.Serializer):
    annotator = serializers.CharField(max_length=150)
    action = serializers.ChoiceField(choices=["waive", "retry"])


class ProjectScreeningApi(APIView):
    """GET: the screening gate's pass mark and each annotator's standing (reviewers, researchers, admins);
    POST: let an annotator through (`waive`) or give them the screening set again (`retry`) (researchers, admins)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, slug):
        return Response(screening_results(project=project_get_for_review(slug=slug, user=request.user)))

    @extend_schema(request=ScreeningInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, slug):
        project = project_get_for_review(slug=slug, user=request.user, roles=POLICY_ROLES)
        data = ScreeningInput(data=request.data)
        data.is_valid(raise_exception=True)
        member_screening_set(project=project, user=request.user, **data.validated_data)
        return Response(screening_results(project=project))
