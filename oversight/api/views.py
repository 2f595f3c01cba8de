"""Thin API views of the oversight app: parse input, call a service or selector, shape output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exceptions import NotFound, PermissionDenied, ValidationFailed
from annotation.models import Chain
from annotation.selectors import MANAGE_ROLES, assignment_get_for_user, assignment_steps, project_get_for_user

from ..models import Critique, ModelBackend, OversightPolicy, PassKind, SymbolicCheck
from ..outputs import run_out
from ..selectors import assignment_oversight, chain_get_for_user, run_get_for_user
from ..services import (
    arm_draw,
    assistance_rate,
    backend_create,
    debate_judge,
    policy_set,
    run_request,
    run_retry,
    runs_request_for_chains,
)
from ..services.report import project_report
from .serializers import (
    BackendInput,
    BackendOutput,
    DebateStartInput,
    PolicyInput,
    RatingInput,
    RunCreateInput,
    VerdictInput,
)


class AssignmentOversightApi(APIView):
    """The assistance shown in one assignment's workspace (the arm is drawn on the first read)."""

    @extend_schema(responses=dict)
    def get(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        arm = arm_draw(assignment=assignment)
        return Response(assignment_oversight(assignment=assignment, arm=arm))


class AssignmentDebateStartApi(APIView):
    @extend_schema(request=DebateStartInput, responses={200: dict, 201: dict})
    def post(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        if arm_draw(assignment=assignment).arm != "assisted":
            raise NotFound("No model assistance in this assignment.")
        policy = OversightPolicy.objects.filter(project_id=assignment.chain.project_id).first()
        if not policy or PassKind.DEBATE not in policy.passes:
            raise PermissionDenied("Debates are not switched on for this project (its oversight settings).")
        data = _valid(DebateStartInput, request.data)
        steps = assignment_steps(assignment=assignment)
        if data["step_index"] >= len(steps):
            raise ValidationFailed(f"step_index must be below {len(steps)}; got {data['step_index']}.",
                                   field="step_index")
        if assignment.revision != assignment.chain.revision:
            raise ValidationFailed("This chain was edited after you were shown it: debates run on its current "
                                   "revision. Reload the page.", field="step_index")
        run, created = run_request(chain=assignment.chain, kind=PassKind.DEBATE,
                                   step_key=steps.keys[data["step_index"]], user=request.user)
        return Response(run_out(run), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class _RateApi(APIView):
    model = None

    @extend_schema(request=RatingInput, responses=dict)
    def post(self, request, pk):
        data = _valid(RatingInput, request.data)
        assignment = assignment_get_for_user(pk=data["assignment"], user=request.user)
        target = self.model.objects.select_related("run").filter(pk=pk, run__chain_id=assignment.chain_id).first()
        if target is None or arm_draw(assignment=assignment).arm != "assisted":
            raise NotFound("No such result in this assignment.")
        kwargs = {"critique": target} if self.model is Critique else {"check": target}
        row = assistance_rate(assignment=assignment, user=request.user, rating=data.get("rating"),
                              dismissed=data.get("dismissed"), **kwargs)
        return Response({"rating": row.rating, "dismissed": row.dismissed})


class CritiqueRateApi(_RateApi):
    model = Critique


class CheckRateApi(_RateApi):
    model = SymbolicCheck


class RunDetailApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, pk):
        return Response(run_out(run_get_for_user(pk=pk, user=request.user)))


class RunRetryApi(APIView):
    @extend_schema(request=None, responses=dict)
    def post(self, request, pk):
        return Response(run_out(run_retry(run=run_get_for_user(pk=pk, user=request.user))))


class RunVerdictApi(APIView):
    @extend_schema(request=VerdictInput, responses=dict)
    def post(self, request, pk):
        run = run_get_for_user(pk=pk, user=request.user)
        data = _valid(VerdictInput, request.data)
        row = debate_judge(run=run, user=request.user, **data)
        return Response({"verdict": row.verdict, "credence": row.credence})


class ProjectPolicyApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        return Response(_policy_out(OversightPolicy.objects.filter(project=project).first()))

    @extend_schema(request=PolicyInput, responses=dict)
    def put(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        data = _valid(PolicyInput, request.data)
        if "backend" in data:
            data["backend_name"] = data.pop("backend")
        return Response(_policy_out(policy_set(project=project, **data)))


class ProjectRunsApi(APIView):
    @extend_schema(request=RunCreateInput, responses={201: dict})
    def post(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        data = _valid(RunCreateInput, request.data)
        chains = Chain.objects.filter(project=project).order_by("id")
        if data.get("chains") is not None:
            chains = chains.filter(source_id__in=data["chains"])
            missing = set(data["chains"]) - set(chains.values_list("source_id", flat=True))
            if missing:
                raise ValidationFailed(f"No chain with source id {', '.join(sorted(missing)[:5])} in {slug}.",
                                       field="chains")
        if data["kind"] == PassKind.DEBATE:
            if data.get("chains") is None or len(data["chains"]) != 1:
                raise ValidationFailed("A debate is about one step of one chain: send chains: [id] and step_key.",
                                       field="chains")
            run, _ = run_request(chain=chains.get(), kind=PassKind.DEBATE, backend_name=data.get("backend"),
                                 step_key=data.get("step_key"), options=data.get("options"), user=request.user)
            return Response({"runs": [run.pk]}, status=status.HTTP_201_CREATED)
        ids = runs_request_for_chains(chains=chains, kind=data["kind"], backend_name=data.get("backend"),
                                      user=request.user)
        return Response({"runs": ids}, status=status.HTTP_201_CREATED)


class ProjectReportApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=(*MANAGE_ROLES, "reviewer"))
        return Response(project_report(project=project))


class ChainResultsApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("revision", int, description="a revision number of the chain "
                                                                       "(default: its current one)")],
                   responses=dict)
    def get(self, request, pk):
        from ..selectors import chain_results

        chain = chain_get_for_user(pk=pk, user=request.user)
        raw = request.query_params.get("revision") or str(chain.revision)
        if not raw.isdigit():
            raise ValidationFailed(f"revision must be a revision number of the chain; got {raw[:20]!r}.",
                                   field="revision")
        revision = int(raw)
        return Response(chain_results(chain_id=chain.pk, revision=revision, user=request.user))


class BackendListApi(APIView):
    @extend_schema(responses=BackendOutput(many=True))
    def get(self, request):
        _staff(request.user)
        return Response(BackendOutput(ModelBackend.objects.order_by("name"), many=True).data)

    @extend_schema(request=BackendInput, responses={201: BackendOutput})
    def post(self, request):
        _staff(request.user)
        backend = backend_create(**_valid(BackendInput, request.data))
        return Response(BackendOutput(backend).data, status=status.HTTP_201_CREATED)


def _staff(user) -> None:
    if not (user.is_staff or user.is_superuser):
        raise PermissionDenied("Model backends are managed by site staff (is_staff).")


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _policy_out(policy: OversightPolicy | None) -> dict:
    if policy is None:
        return {"passes": {}, "assisted_share": 1.0, "backend": None, "debate_rounds": 3, "debate_turn_chars": 1200,
                "debate_mode": "sequential"}
    return {"passes": policy.passes, "assisted_share": policy.assisted_share,
            "backend": policy.backend.name if policy.backend_id else None, "debate_rounds": policy.debate_rounds,
            "debate_turn_chars": policy.debate_turn_chars, "debate_mode": policy.debate_mode}


