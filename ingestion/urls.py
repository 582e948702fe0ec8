from ingestion import views
from tenants.urls import SLUG, route

JOB = r"(?P<job_id>[^/]+)"

urlpatterns = [
    route(rf"tenants/{SLUG}/ingestion", views.IngestionCreateView.as_view(), "ingestion-create"),
    route(rf"tenants/{SLUG}/ingestion/batch", views.IngestionBatchView.as_view(), "ingestion-batch"),
    route(rf"tenants/{SLUG}/ingestion/jobs", views.JobListView.as_view(), "ingestion-job-list"),
    route(rf"tenants/{SLUG}/ingestion/jobs/{JOB}", views.JobDetailView.as_view(), "ingestion-job-detail"),
    route(
        rf"tenants/{SLUG}/ingestion/jobs/{JOB}/cancel", views.JobCancelView.as_view(), "ingestion-job-cancel"
    ),
    route(rf"tenants/{SLUG}/ingestion/jobs/{JOB}/retry", views.JobRetryView.as_view(), "ingestion-job-retry"),
    route(rf"tenants/{SLUG}/ingestion/logs", views.LogListView.as_view(), "ingestion-logs"),
    route(rf"tenants/{SLUG}/ingestion/resync", views.ResyncView.as_view(), "ingestion-resync"),
]
