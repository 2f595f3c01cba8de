"""What every import format parses into, and the error a bad row raises. Pure: no Django."""

import hashlib
import json
from dataclasses import dataclass, field

MAX_ERRORS = 50  # a file with thousands of bad rows gets the first fifty, not a wall of text


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


class FileRefused(Exception):
    """The file has bad rows; nothing from it may be written."""

    def __init__(self, errors: list[RowError], filename: str = ""):
        self.errors = errors
        self.filename = filename
        super().__init__(self.summary())

    def summary(self) -> str:
        head = f"{self.filename}: " if self.filename else ""
        lines = [f"{head}refused, nothing was imported ({len(self.errors)} problem(s)):"]
        lines += [f"  {error}" for error in self.errors]
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


@dataclass
class ParsedLabels:
    """Labels that came with the data, attributed to their source (becomes an external Assignment)."""

    source: str
    ratings: list[int | None]
    flagged: list[bool | None]
    finish_reason: str
    first_error_step: int | None
    candidates: list[ParsedCandidate] = field(default_factory=list)
    source_meta: dict = field(default_factory=dict)


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

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.problem, self.steps, self.final_answer], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
