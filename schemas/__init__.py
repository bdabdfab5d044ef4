"""The contracts of sourcevault: pydantic models shared by the CLI, the report and the web UI.

No I/O and no imports from the rest of the project.
"""

from schemas.capture import Capture
from schemas.common import Model, Problem, ProblemCode
from schemas.digest import Digest, Footnote, FootnoteURL, Incident
from schemas.evidence import (
    DateCandidate,
    DateCheck,
    DateVerdict,
    Evidence,
    NameMatch,
    NamesCheck,
    NamesVerdict,
    ProbeResult,
    RedirectHop,
    VantageSeen,
)
from schemas.linkrot import (
    ArchivedCopy,
    Attachment,
    CheckKind,
    HealthState,
    Screenshot,
    SourceCheck,
    SourceHealth,
)
from schemas.report import (
    Citation,
    DigestSummary,
    IncidentReport,
    Period,
    Report,
    SameText,
    SourceReport,
    Verdict,
)
from schemas.source import Source, SourceStatus

__all__ = [
    "ArchivedCopy",
    "Attachment",
    "Capture",
    "CheckKind",
    "Citation",
    "DateCandidate",
    "DateCheck",
    "DateVerdict",
    "Digest",
    "DigestSummary",
    "Evidence",
    "Footnote",
    "FootnoteURL",
    "HealthState",
    "Incident",
    "IncidentReport",
    "Model",
    "NameMatch",
    "NamesCheck",
    "NamesVerdict",
    "Period",
    "ProbeResult",
    "Problem",
    "ProblemCode",
    "RedirectHop",
    "Report",
    "SameText",
    "Screenshot",
    "Source",
    "SourceCheck",
    "SourceHealth",
    "SourceReport",
    "SourceStatus",
    "VantageSeen",
    "Verdict",
]
