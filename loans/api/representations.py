"""The API's JSON for an application and a loan, shared by the views and the webhook payloads."""

from rest_framework.utils.encoders import JSONEncoder  # noqa: F401 - callers encode with it

from .serializers import ApplicationOut, LoanOut


def application_data(application) -> dict:
    return dict(ApplicationOut(application).data)


def loan_data(loan) -> dict:
    return dict(LoanOut(loan).data)
