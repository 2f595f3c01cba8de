from rest_framework import serializers

from ..formats.parse import FORMATS
from ..models import Assignment, FinishReason, ImportJob, Project
from ..services import LabelInput


class ProjectOutput(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["slug", "name", "guidelines", "label_scale", "overlap_k", "segmentation", "created_at"]


class ProjectCreateInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, default="")
    guidelines = serializers.CharField(required=False, default="", allow_blank=True)
    overlap_k = serializers.IntegerField(min_value=1, max_value=50, default=1)
    label_scale = serializers.CharField(required=False, default="ternary")
    segmentation = serializers.CharField(required=False, default="newline")


class ImportCreateInput(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=("auto", *FORMATS), default="auto")


class ImportJobOutput(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ImportJob
        fields = ["id", "project", "filename", "format", "status", "result", "errors", "created_at", "finished_at"]


class LabelInputSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=0)
    rating = serializers.IntegerField(min_value=-1, max_value=1, allow_null=True, required=False, default=None)
    rationale = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    correction = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    flagged = serializers.BooleanField(required=False, allow_null=True, default=None)


class LabelsSaveInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    labels = LabelInputSerializer(many=True)
    active_seconds = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)


class SubmitInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    finish_reason = serializers.ChoiceField(choices=FinishReason.choices)
    labels = LabelInputSerializer(many=True, required=False, default=list)
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=20000)
    active_seconds = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)


def to_labels(items: list[dict]) -> list[LabelInput]:
    return [LabelInput(**item) for item in items]


class StepLabelOutput(serializers.Serializer):
    step = serializers.IntegerField(source="step.index")
    rating = serializers.IntegerField(allow_null=True)
    rationale = serializers.CharField()
    correction = serializers.CharField()
    flagged = serializers.BooleanField(allow_null=True)


class StepOutput(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()


class AssignmentOutput(serializers.ModelSerializer):
    project = serializers.CharField(source="chain.project.slug")
    chain = serializers.SerializerMethodField()
    labels = StepLabelOutput(many=True)
    finish_reason = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "project", "status", "version", "active_seconds", "created_at", "submitted_at", "chain",
                  "labels", "finish_reason"]

    def get_chain(self, assignment) -> dict:
        chain = assignment.chain
        return {"id": chain.source_id, "problem": chain.problem.statement, "source_model": chain.source_model,
                "steps": StepOutput(chain.steps.all(), many=True).data}

    def get_finish_reason(self, assignment) -> str | None:
        annotation = getattr(assignment, "annotation", None)
        return annotation.finish_reason if annotation else None


class AssignmentSummaryOutput(serializers.ModelSerializer):
    chain = serializers.CharField(source="chain.source_id")

    class Meta:
        model = Assignment
        fields = ["id", "chain", "status", "version", "created_at", "submitted_at"]
