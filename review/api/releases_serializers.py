"""Input and output serializers of the release and judge-evaluation API."""

from rest_framework import serializers

from ..releases_build import RELEASE_FORMATS
from ..releases_formats import NEUTRAL_CHOICES
from ..releases_models import DatasetRelease, JudgeEvaluation, LabelSource, ReleaseFile


class ReleaseCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=32)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    formats = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1, max_length=16,
                                    help_text=f"Any of {', '.join(RELEASE_FORMATS)}.")
    label_source = serializers.ChoiceField(choices=LabelSource.values, default=LabelSource.REFERENCE)
    min_agreement = serializers.FloatField(default=0.0, min_value=0, max_value=1)
    min_label_sets = serializers.IntegerField(default=1, min_value=1, max_value=50)
    include_gold = serializers.BooleanField(default=False)
    include_screening = serializers.BooleanField(default=False)
    include_planted = serializers.BooleanField(default=False)
    test_fraction = serializers.FloatField(default=0.1, min_value=0, max_value=0.99)
    seed = serializers.CharField(default="stepwise", max_length=64)
    neutral = serializers.ChoiceField(choices=NEUTRAL_CHOICES, default="positive")


class ReleaseFileOutput(serializers.ModelSerializer):
    class Meta:
        model = ReleaseFile
        fields = ["path", "kind", "split", "rows", "bytes", "sha256"]


class ReleaseOutput(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.slug")

    class Meta:
        model = DatasetRelease
        fields = ["id", "project", "name", "version", "description", "status", "filters", "progress", "content_hash",
                  "error", "remade_from", "created_at", "started_at", "finished_at", "files", "manifest"]

    def get_files(self, release) -> list[dict]:
        if not self.context.get("with_files", True):
            return []
        return ReleaseFileOutput(release.files.exclude(kind="selection").order_by("path"), many=True).data

    def get_progress(self, release) -> dict:
        from ..releases import release_live_progress

        return release_live_progress(release)


class ReleaseSummaryOutput(ReleaseOutput):
    class Meta(ReleaseOutput.Meta):
        fields = ["id", "project", "name", "version", "status", "filters", "progress", "content_hash", "created_at",
                  "finished_at"]


class EvaluationCreateInput(serializers.Serializer):
    judge = serializers.CharField(max_length=200)
    split = serializers.CharField(default="test", max_length=16)
    file = serializers.FileField(required=False,
                                 help_text='JSON Lines: {"id", "label" (first wrong step or -1), "step_scores"?}.')
    backend = serializers.CharField(required=False, max_length=64,
                                    help_text="Instead of a file: score this oversight backend's finished critiques.")
    request = serializers.BooleanField(default=False, help_text="With backend: ask it to critique the split first.")
    pairs = serializers.BooleanField(default=False, help_text=(
        'The file holds a pairwise judge\'s picks on the release\'s preference pairs, each shown in both orders: '
        '{"id", "shown_first": "chosen"|"rejected", "picked": "first"|"second"} (the position-swap check).'))

    def validate(self, data):
        if bool(data.get("file")) == bool(data.get("backend")):
            raise serializers.ValidationError("Give either a predictions file or an oversight backend's name.")
        return data
    resamples = serializers.IntegerField(default=1000, min_value=0, max_value=10000)


class EvaluationOutput(serializers.ModelSerializer):
    class Meta:
        model = JudgeEvaluation
        fields = ["id", "release", "judge", "split", "predictions", "predictions_sha256", "results", "created_at"]
