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
    "underwriting.view_historysource",
    # The audit console (issue 6): decisions and everything they cite, read-only; reviews are the
    # officers' only write.
    "underwriting.view_decision",
    "underwriting.view_modelversion",
    "underwriting.view_policyversion",
    "underwriting.view_modelactivation",
    "loans.view_application",
    "loans.view_applicationtransition",
    "loans.view_loan",
    "loans.view_review",
    "loans.add_review",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    APPLICANT: [],
    LOAN_OFFICER: _OFFICER_READS,
    RISK_OPERATOR: [
        *_OFFICER_READS,
        "accounts.add_partnerbank",
        "accounts.change_partnerbank",
        "accounts.change_business",
        # Promoting a model records a ModelActivation; creating a policy version adds a PolicyVersion.
        "underwriting.add_modelactivation",
        "underwriting.add_policyversion",
        # Paying out a loan that waits for a person (an owner's own uploaded history, docs/provenance.md)
        # on the platform's own channel.
        "loans.confirm_disbursement",
    ],
}

# Staff roles log in to the admin (audit console); applicants never do.
STAFF_ROLES = {LOAN_OFFICER, RISK_OPERATOR}
