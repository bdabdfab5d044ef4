"""The contracts of sourcevault: pydantic models shared by the CLI, the report and the web UI.

No I/O and no imports from the rest of the project.
"""

from schemas.capture import Capture
from schemas.common import Model, Problem, ProblemCode
from schemas.digest import Digest, Footnote, FootnoteURL, Incident
from schemas.evidence import (
    DateCheck,
    DateVerdict,
    Evidence,
    NameMatch,
    NamesCheck,
    NamesVerdict,
    RedirectHop,
)
from schemas.report import (
    Citation,
    DigestSummary,
    IncidentReport,
    Period,
    Report,
    SourceReport,
    Verdict,
)
from schemas.source import Source, SourceStatus

__all__ = [
    "Capture",
    "Citation",
    "DateCheck",
    "DateVerdict",
    "Digest",
    "DigestSummary",
    "Evidence",
    "Footnote",
    "FootnoteURL",
    "Incident",
    "IncidentReport",
    "Model",
    "NameMatch",
    "NamesCheck",
    "NamesVerdict",
    "Period",
    "Problem",
    "ProblemCode",
    "RedirectHop",
    "Report",
    "Source",
    "SourceReport",
    "SourceStatus",
    "Verdict",
]
