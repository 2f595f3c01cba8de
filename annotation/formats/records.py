"""What every import format parses into, the limits it is held to, and the error a bad row raises.

Pure: no Django.
"""

import hashlib
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Limits:
    """Sizes an import refuses beyond, each with a setting (platform/config/settings.py)."""

    max_file_bytes: int = 1 << 30
    max_steps: int = 20_000
    max_step_chars: int = 100_000
    max_text_chars: int = 1_000_000  # problem statement, reference answer, final answer
    max_raw_chars: int = 64_000_000  # a chain given as one text, before it is split into steps
    max_row_bytes: int = 64 << 20
    max_depth: int = 32  # nesting of metadata and other free-form fields
    max_metadata_bytes: int = 1 << 20
    max_errors: int = 1000  # a file with more bad rows gets the first thousand and a count


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str
    item: int = 0  # 1-based position of the row in the file, for rows whose line is found later

    def __str__(self) -> str:
        if self.line:
            where = f"line {self.line}"
        elif self.item:
            where = f"item {self.item}"
        else:
            where = "file"
        return f"{where}, field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


class FileRefused(Exception):
    """The file has bad rows; nothing from it may be written."""

    def __init__(self, errors: list[RowError], filename: str = "", *, more: int = 0):
        self.errors = errors
        self.filename = filename
        self.more = more  # bad rows beyond those listed
        super().__init__(self.summary())

    def summary(self) -> str:
        head = f"{self.filename}: " if self.filename else ""
        total = len(self.errors) + self.more
        lines = [f"{head}refused, nothing was imported ({total} problem(s)):"]
        lines += [f"  {error}" for error in self.errors]
        if self.more:
            lines.append(f"  ... and {self.more} more")
        return "\n".join(lines)


@dataclass
class ParsedCandidate:
    step_index: int
    position: int
    source: str  # "model" | "human"
    text: str
    rating: int | None
    flagged: bool | None
    chosen: bool

    def as_list(self) -> list:
        return [self.step_index, self.position, self.source, self.text, self.rating, self.flagged, self.chosen]


@dataclass
class ParsedLabels:
    """Labels that came with the data, attributed to their source (stored as an ImportedLabelSet)."""

    source: str
    ratings: list[int | None]
    flagged: list[bool | None]
    finish_reason: str
    first_error_step: int | None
    candidates: list[ParsedCandidate] = field(default_factory=list)
    source_meta: dict = field(default_factory=dict)
    # Steps the labeler wrote (PRM800K human_completion): the trajectory's step at that index.
    human_steps: list[int] = field(default_factory=list)

    _labels_hash: str = field(default="", repr=False)

    @property
    def labels_hash(self) -> str:
        """What tells two label sets of the same source apart (not when or how long they took)."""
        if not self._labels_hash:
            payload = orjson.dumps([self.ratings, self.flagged, self.finish_reason, self.first_error_step,
                                    self.human_steps, [c.as_list() for c in self.candidates]])
            self._labels_hash = hashlib.sha256(payload).hexdigest()
        return self._labels_hash


@dataclass
class ParsedChain:
    line: int
    source_id: str
    problem: str
    steps: list[str]
    reference_answer: str = ""
    source_model: str = ""
    final_answer: str = ""
    raw_text: str = ""
    segmentation: str = ""
    spans: list[tuple[int, int]] | None = None
    metadata: dict = field(default_factory=dict)
    problem_source: str = ""
    labels: list[ParsedLabels] = field(default_factory=list)
    item: int = 0
    unknown_fields: list[str] = field(default_factory=list)
    _steps_json: bytes | None = field(default=None, repr=False)
    _content_hash: str | None = field(default=None, repr=False)
    problem_hash: str = ""  # sha256 of the statement, filled by the importer

    @property
    def steps_json(self) -> bytes:
        """The steps as a JSON array (what is stored, compressed; see annotation/steps.py)."""
        if self._steps_json is None:
            self._steps_json = orjson.dumps(self.steps)
        return self._steps_json

    @property
    def content_hash(self) -> str:
        """sha256 of [problem, steps, final answer] as compact JSON: names the chain's content."""
        if self._content_hash is None:
            payload = b"".join((b"[", orjson.dumps(self.problem), b",", self.steps_json, b",",
                                orjson.dumps(self.final_answer), b"]"))
            self._content_hash = hashlib.sha256(payload).hexdigest()
        return self._content_hash

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line else f"item {self.item}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
