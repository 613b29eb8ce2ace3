"""Case files: schema (units, defaults, ranges) and loading with one-line errors."""
from .load import case_from_dict, load_case, raw_dict, set_dotted
from .schema import Case

__all__ = ["Case", "case_from_dict", "load_case", "raw_dict", "set_dotted"]
