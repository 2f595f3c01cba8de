"""Import formats: reading files into ParsedChain records (pure, no Django)."""

from .parse import FORMATS, parse_file
from .records import FileRefused, ParsedChain, RowError

__all__ = ["FORMATS", "FileRefused", "ParsedChain", "RowError", "parse_file"]
