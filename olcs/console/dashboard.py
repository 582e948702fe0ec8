"""What a librarian sees first: one library's catalog, ingestion, limits and patrons at a glance.

`library_dashboard` gathers the figures with a fixed number of queries, whatever the size of
the catalog: counts come from indexes (the books' (tenant, updated_at) index, the jobs' and
submissions' per-library indexes) or from CatalogStats, never from a scan of the library.
Charts are drawn here as plain numbers and rendered as inline SVG by the template, so the
admin works offline and without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Book, CatalogStats
from ingestion.models import IngestionJob
from patrons.models import RequestedBook, Submission
from tenants import ratelimit
from tenants.models import Tenant

CHART_DAYS = 30
MOST_REQUESTED = 5


@dataclass(frozen=True)
class Bar:
    day: date
    value: int
    x: float
    y: float
    height: float

    @property
    def label(self) -> str:
        return self.day.strftime("%d %b")


@dataclass(frozen=True)
class Chart:
    """Daily values over the last CHART_DAYS days, laid out for a WIDTH by HEIGHT SVG."""

    WIDTH = 600
    HEIGHT = 160
    TOP = 8
    BOTTOM = 20

    title: str
    unit: str
    bars: list[Bar]
    maximum: int
    bar_width: float
    total: int
    line: str = ""  # SVG polyline points of a cumulative series, when the chart has one
    line_label: str = ""

    @classmethod
    def daily(
        cls, *, title: str, unit: str, values: dict[date, int], today: date, cumulative_end: int | None = None
    ) -> Chart:
        days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
        series = [int(values.get(day, 0)) for day in days]
        maximum = max(series) or 1
        plot_height = cls.HEIGHT - cls.TOP - cls.BOTTOM
        slot = cls.WIDTH / len(days)
        bars = []
        for n, (day, value) in enumerate(zip(days, series, strict=True)):
            height = plot_height * value / maximum
            bars.append(
                Bar(
                    day=day,
                    value=value,
                    x=round(n * slot + slot * 0.15, 2),
                    y=round(cls.TOP + plot_height - height, 2),
                    height=round(height, 2),
                )
            )
        line = ""
        if cumulative_end is not None:
            # The catalog size at the end of each day, counted back from today's size.
            sizes, size = [], cumulative_end
            for value in reversed(series):
                sizes.append(size)
                size -= value
            sizes.reverse()
            low, high = min(sizes), max(sizes)
            span = (high - low) or 1
            line = " ".join(
                f"{round(n * slot + slot / 2, 2)},{round(cls.TOP + plot_height * (1 - (s - low) / span), 2)}"
                for n, s in enumerate(sizes)
            )
        return cls(
            title=title,
            unit=unit,
            bars=bars,
            maximum=maximum if any(series) else 0,
            bar_width=round(slot * 0.7, 2),
            total=sum(series),
            line=line,
            line_label=f"catalog size, {sizes[0]:,} → {sizes[-1]:,}" if line else "",
        )

    @property
    def first_label(self) -> str:
        return self.bars[0].label

    @property
    def last_label(self) -> str:
        return self.bars[-1].label


@dataclass
class LimitUsage:
    name: str
    used: int
    limit: int
    window_seconds: int
    reset_seconds: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0


@dataclass
class Dashboard:
    tenant: Tenant
    generated_at: datetime
    catalog_size: int
    books_added: dict[int, int]  # {days: books created in the last `days` days}
    books_changed: dict[int, int]  # {days: existing books given a new version}
    jobs: dict[str, int]  # pending, running, failed (last 30 days), completed (last 30 days)
    rate_limits: list[LimitUsage] | None  # None: limiting is off; [] with limits_error: unreadable
    limits_error: bool
    submissions_week: int
    submissions_by_status: dict[str, int]
    most_requested: list = field(default_factory=list)
    growth: Chart | None = None
    ingestion: Chart | None = None


def library_dashboard(*, tenant: Tenant, now: datetime | None = None) -> Dashboard:
    """The dashboard of one library: seven queries plus the rate limiter's reads, whatever its size."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    chart_start = timezone.make_aware(
        datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time())
    )
    since = min(month, chart_start)

    # A book created or given a new version in the window has its updated_at in it: the
    # (tenant, updated_at) index finds the recent books, the rest of the catalog is not read.
    recent = Book.objects.for_tenant(tenant).filter(updated_at__gte=since)
    counts = recent.aggregate(
        added_7=Count("id", filter=Q(created_at__gte=week)),
        added_30=Count("id", filter=Q(created_at__gte=month)),
        changed_7=Count("id", filter=Q(updated_at__gte=week, created_at__lt=week, current_version__gt=1)),
        changed_30=Count("id", filter=Q(updated_at__gte=month, created_at__lt=month, current_version__gt=1)),
    )
    added_per_day = dict(
        recent.filter(created_at__gte=chart_start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )

    jobs = IngestionJob.objects.for_tenant(tenant)
    job_counts = jobs.filter(
        Q(status__in=[IngestionJob.Status.PENDING, IngestionJob.Status.RUNNING]) | Q(created_at__gte=month)
    ).aggregate(
        pending=Count("id", filter=Q(status=IngestionJob.Status.PENDING)),
        running=Count("id", filter=Q(status=IngestionJob.Status.RUNNING)),
        failed=Count("id", filter=Q(status=IngestionJob.Status.FAILED, created_at__gte=month)),
        completed=Count("id", filter=Q(status=IngestionJob.Status.COMPLETED, created_at__gte=month)),
    )
    works_per_day = dict(
        jobs.filter(created_at__gte=chart_start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            works=Sum("works_created") + Sum("works_updated") + Sum("works_unchanged") + Sum("works_failed")
        )
        .values_list("day", "works")
    )

    submissions = Submission.objects.for_tenant(tenant).filter(created_at__gte=week)
    by_status = dict(submissions.values("status").annotate(n=Count("id")).values_list("status", "n"))
    most_requested = list(
        RequestedBook.objects.for_tenant(tenant)
        .only("id", "title", "open_library_key")
        .order_by("-request_count", "title", "id")[:MOST_REQUESTED]
    )

    rate_limits, limits_error = _rate_limits(tenant)
    catalog_size = CatalogStats.of(tenant).books
    return Dashboard(
        tenant=tenant,
        generated_at=now,
        catalog_size=catalog_size,
        books_added={7: counts["added_7"], 30: counts["added_30"]},
        books_changed={7: counts["changed_7"], 30: counts["changed_30"]},
        jobs=job_counts,
        rate_limits=rate_limits,
        limits_error=limits_error,
        submissions_week=sum(by_status.values()),
        submissions_by_status=by_status,
        most_requested=most_requested,
        growth=Chart.daily(
            title="Catalog growth",
            unit="books added",
            values=added_per_day,
            today=today,
            cumulative_end=catalog_size,
        ),
        ingestion=Chart.daily(
            title="Ingestion activity", unit="works processed", values=works_per_day, today=today
        ),
    )


def _rate_limits(tenant: Tenant) -> tuple[list[LimitUsage] | None, bool]:
    if not settings.RATE_LIMIT_ENABLED:
        return None, False
    try:
        report = ratelimit.report_usage(tenant=tenant)
    except ratelimit.StoreUnavailable:
        return [], True
    names = {"api": "API requests", "ingestion": "Ingestion requests"}
    return [
        LimitUsage(
            name=names.get(bucket, bucket),
            used=usage.used,
            limit=usage.limit,
            window_seconds=usage.window_seconds,
            reset_seconds=usage.reset_seconds,
        )
        for bucket, usage in report.items()
    ], False
