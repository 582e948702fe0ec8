from patrons import views
from tenants.urls import SLUG, route

SUBMISSION = r"(?P<submission_id>[^/]+)"
PATRON = r"(?P<patron_id>[^/]+)"

urlpatterns = [
    route(rf"tenants/{SLUG}/submissions", views.SubmissionListView.as_view(), "submission-list"),
    route(
        rf"tenants/{SLUG}/submissions/{SUBMISSION}", views.SubmissionDetailView.as_view(), "submission-detail"
    ),
    route(rf"tenants/{SLUG}/patrons", views.PatronListView.as_view(), "patron-list"),
    # Before the detail route: "erase" is not a patron id.
    route(rf"tenants/{SLUG}/patrons/erase", views.PatronEraseView.as_view(), "patron-erase"),
    route(rf"tenants/{SLUG}/patrons/{PATRON}", views.PatronDetailView.as_view(), "patron-detail"),
]
