"""The simulator's episode log as a DfE SSDA903 (children looked after) return.

- :mod:`~sim.ssda903.codes`: the code table (``codes.csv``): which code each model value
  becomes, and the mapping table shown in ``docs/SSDA903.md``;
- :mod:`~sim.ssda903.episodes`: the model's history as a chain of SSDA903 episodes per child;
- :mod:`~sim.ssda903.export`: the header, episodes and UASC files of each collection year, and
  the DfE measures read back from them;
- :mod:`~sim.ssda903.tools`: the DfE validation rules and the demand model, each run in its own
  cached virtual environment.

``docs/SSDA903.md`` explains the export. Nothing here is imported by the model.
"""

from sim.ssda903.codes import (
    DATE_FORMAT,
    EPISODE_COLUMNS,
    HEADER_COLUMNS,
    KENT_LA_CODE,
    MAPPING,
    UASC_COLUMNS,
    WAITING,
    Code,
    code,
    exit_code,
    mapping_markdown,
    mapping_table,
    move_reason,
    place_codes,
    sex_code,
)
from sim.ssda903.episodes import build, collection_years
from sim.ssda903.export import (
    DFE_GROUPS,
    export,
    export_tables,
    group_of,
    in_care_at_31_march,
    load_run,
    model_in_care,
    stability,
    stability_by_child,
    year_tables,
)
from sim.ssda903.tools import (
    DEMAND_MODEL,
    VALIDATOR,
    Tool,
    ToolUnavailable,
    Validation,
    cache_dir,
    demand_model_cli,
    demand_model_predict,
    ruleset_for,
    tool_python,
    validate,
)

__all__ = [
    "DATE_FORMAT",
    "DEMAND_MODEL",
    "DFE_GROUPS",
    "EPISODE_COLUMNS",
    "HEADER_COLUMNS",
    "KENT_LA_CODE",
    "MAPPING",
    "UASC_COLUMNS",
    "VALIDATOR",
    "WAITING",
    "Code",
    "Tool",
    "ToolUnavailable",
    "Validation",
    "build",
    "cache_dir",
    "code",
    "collection_years",
    "demand_model_cli",
    "demand_model_predict",
    "exit_code",
    "export",
    "export_tables",
    "group_of",
    "in_care_at_31_march",
    "load_run",
    "mapping_markdown",
    "mapping_table",
    "model_in_care",
    "move_reason",
    "place_codes",
    "ruleset_for",
    "sex_code",
    "stability",
    "stability_by_child",
    "tool_python",
    "validate",
    "year_tables",
]
