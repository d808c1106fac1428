from django.urls import include, path

from loans.owner import views

# Named in the "loans" namespace; the dashboard, the list and sign-up keep short global names.
owner_patterns = [
    path("business/new/", views.business_create, name="business_create"),
    path("business/<uuid:public_id>/history/", views.business_history, name="business_history"),
    path("business/<uuid:public_id>/apply/", views.apply, name="apply"),
    path("apply/", views.apply_start, name="apply_start"),
    path("applications/", views.application_list, name="applications"),
    path("applications/<uuid:public_id>/", views.application_detail, name="application"),
    path("applications/<uuid:public_id>/status/", views.application_status, name="application_status"),
    path("applications/<uuid:public_id>/withdraw/", views.application_withdraw, name="application_withdraw"),
    path("applications/<uuid:public_id>/accept/", views.offer_accept, name="offer_accept"),
    path("applications/<uuid:public_id>/reject/", views.offer_reject, name="offer_reject"),
    path("loans/<uuid:public_id>/", views.loan_detail, name="loan"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("applications/", views.application_list, name="applications"),
    path("", include((owner_patterns, "loans"))),
]
