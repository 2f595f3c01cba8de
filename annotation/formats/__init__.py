"""Import formats: reading files into ParsedChain records (pure, no Django)."""

from .parse import FORMATS, add_lines, detect_format, parse_file, parse_rows
from .records import FileRefused, Limits, ParsedChain, ParsedLabels, RowError

__all__ = ["FORMATS", "FileRefused", "Limits", "ParsedChain", "ParsedLabels", "RowError", "add_lines",
           "detect_format", "parse_file", "parse_rows"]
