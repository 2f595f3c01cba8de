from rest_framework import serializers

from ..models import ModelBackend, PassKind, Usefulness


class RatingInput(serializers.Serializer):
    assignment = serializers.IntegerField()
    rating = serializers.ChoiceField(choices=[("", "clear"), *Usefulness.choices], required=False, allow_blank=True)
    dismissed = serializers.BooleanField(required=False)


class VerdictInput(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=[("correct", "correct"), ("incorrect", "incorrect")])
    credence = serializers.FloatField(min_value=0.5, max_value=1.0)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class DebateStartInput(serializers.Serializer):
    step_index = serializers.IntegerField(min_value=0)


class RunCreateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PassKind.choices)
    chains = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=100_000,
                                   help_text="Source ids; all the project's chains when left out.")
    backend = serializers.CharField(required=False, max_length=64)
    step_key = serializers.IntegerField(required=False, min_value=0)
    options = serializers.DictField(required=False)


class PolicyInput(serializers.Serializer):
    passes = serializers.DictField(child=serializers.CharField(), required=False)
    assisted_share = serializers.FloatField(required=False, min_value=0, max_value=1)
    backend = serializers.CharField(required=False, allow_blank=True, max_length=64)
    debate_rounds = serializers.IntegerField(required=False)
    debate_turn_chars = serializers.IntegerField(required=False)
    debate_mode = serializers.CharField(required=False)


class BackendInput(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    base_url = serializers.CharField(max_length=500)
    model = serializers.CharField(max_length=200)
    api_key_env = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    params = serializers.DictField(required=False, default=dict)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=1024, default=8)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=3600, default=120.0)
    structured_output = serializers.BooleanField(default=True)


class BackendOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelBackend
        fields = ["name", "base_url", "model", "api_key_env", "params", "max_concurrency", "timeout_seconds",
                  "structured_output", "is_embedded"]
