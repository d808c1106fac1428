from django.contrib.auth import login
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import SignupForm
from accounts.models import User
from accounts.roles import APPLICANT


@require_http_methods(["GET", "POST"])
def signup(request):
    """A business owner creates an account (applicant role) and is logged in at once."""
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # create_user, not get_or_create: two sign-ups racing for one email must not log the
            # second person into the first one's account.
            with transaction.atomic():
                user = User.objects.create_user(
                    email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
                )
                user.groups.add(Group.objects.get_or_create(name=APPLICANT)[0])
        except IntegrityError:
            form.add_error("email", "An account with this email already exists. Log in instead.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form})
