"""Roles are groups; this module is the one place that says which permissions each role holds.

Later apps add their codenames here as their models arrive (strings, so accounts imports nothing
from the apps above it).
"""

APPLICANT = "applicant"
LOAN_OFFICER = "loan_officer"
RISK_OPERATOR = "risk_operator"

ROLE_LABELS = {
    APPLICANT: "Business owner (applicant)",
    LOAN_OFFICER: "Loan officer",
    RISK_OPERATOR: "Risk operator",
}

_OFFICER_READS = [
    "accounts.view_partnerbank",
    "accounts.view_business",
    "underwriting.view_loanrecord",
    "underwriting.view_importrun",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    APPLICANT: [],
    LOAN_OFFICER: _OFFICER_READS,
    RISK_OPERATOR: [
        *_OFFICER_READS,
        "accounts.add_partnerbank",
        "accounts.change_partnerbank",
        "accounts.change_business",
    ],
}

# Staff roles log in to the admin (audit console); applicants never do.
STAFF_ROLES = {LOAN_OFFICER, RISK_OPERATOR}
