from django.shortcuts import render

from accounts.selectors import business_list_for_owner
from underwriting.selectors import business_history_summary


def home(request):
    businesses = []
    if request.user.is_authenticated:
        businesses = [
            (business, business_history_summary(business_id=business.pk))
            for business in business_list_for_owner(user=request.user)
        ]
    return render(request, "loans/home.html", {"businesses": businesses})
