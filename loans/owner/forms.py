from django import forms

from accounts.forms import AccessibleFormMixin
from config import clock
from loans.applications.amounts import AmountSyntaxError, amount_from_text
from loans.applications.models import Purpose


class BusinessForm(AccessibleFormMixin, forms.Form):
    legal_name = forms.CharField(label="Business name", max_length=200)
    registration_number = forms.CharField(label="Registration number", max_length=64, required=False)
    sector = forms.CharField(
        label="Sector", max_length=64, help_text="For example grocery, restaurant, clothing, hardware."
    )
    region = forms.CharField(label="Region", max_length=64)
    established_on = forms.DateField(
        label="Established on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The date the business started trading.",
    )

    def clean_established_on(self):
        value = self.cleaned_data["established_on"]
        if value > clock.today():
            raise forms.ValidationError("The date the business started cannot be in the future.")
        return value


class HistoryUploadForm(AccessibleFormMixin, forms.Form):
    transactions = forms.FileField(
        label="Transactions file (CSV)",
        help_text="Columns transaction_id, occurred_at, amount, currency, direction and kind; counterparty and "
        "balance_after if you have them.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class ClaimDemoForm(AccessibleFormMixin, forms.Form):
    merchant_id = forms.CharField(
        label="Demo merchant ID", max_length=64, help_text="For example M000042, from the demo marketplace."
    )


class AmountField(forms.CharField):
    """Money as typed by people: "12000", "12,000" or "12,000.50" and nothing else (loans.applications.amounts: no
    exponent, sign, "inf" or "nan", at most 2 decimals); never a float."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return amount_from_text(value)
        except AmountSyntaxError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class ApplicationForm(AccessibleFormMixin, forms.Form):
    amount = AmountField(
        label="Amount",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    term_months = forms.IntegerField(
        label="Term (months)",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={"invalid": "Enter the term as a whole number of months."},
    )
    purpose = forms.ChoiceField(
        label="Purpose", choices=[("", "Choose what the money is for"), *Purpose.choices]
    )

    def __init__(self, *args, min_term: int = 3, max_term: int = 24, amount_help: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.min_term, self.max_term = min_term, max_term
        self.fields["term_months"].widget.attrs.update(min=min_term, max=max_term)
        self.fields["term_months"].help_text = f"From {min_term} to {max_term} monthly repayments."
        if amount_help:
            self.fields["amount"].help_text = amount_help

    def clean_term_months(self):
        # Checked here as well as in application_submit so every field's error shows at once.
        term = self.cleaned_data["term_months"]
        if not self.min_term <= term <= self.max_term:
            raise forms.ValidationError(f"Choose a term from {self.min_term} to {self.max_term} months.")
        return term
