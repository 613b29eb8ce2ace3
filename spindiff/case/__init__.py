"""Case files: schema (units, defaults, ranges), cross-field rules, loading with one-line
errors. Build a case with `load_case(path)` or `Case.from_dict(raw)`; change it with
`case.with_changes({...})`."""
from .dotted import set_dotted
from .load import case_from_dict, load_case, raw_dict
from .schema import Case

__all__ = ["Case", "case_from_dict", "load_case", "raw_dict", "set_dotted"]
