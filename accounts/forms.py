from django.contrib.auth.forms import AuthenticationForm
from django.forms import EmailField, EmailInput


class EmailAuthenticationForm(AuthenticationForm):
    username = EmailField(
        label="Email", widget=EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
