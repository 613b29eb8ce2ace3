"""The figure style of spindiff, importable under its former name: the style lives in
`spindiff.figure_style` (the bottom layer, so that the physics layer's figures use it too)."""
from __future__ import annotations

from ..figure_style import (  # noqa: F401
                            DPI,
                            FORMATS,
                            STYLE,
                            coincide,
                            colours,
                            conditions_text,
                            figure,
                            is_log_spaced,
                            log_ticks,
                            panels_with_legend,
                            pretty_unit,
                            pyplot,
                            quantity_label,
                            quantity_name,
                            save,
                            styled,
                            subtitle,
                            thin_log_ticks,
)
