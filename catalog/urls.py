from catalog import views
from tenants.urls import SLUG, route

BOOK = r"(?P<book_id>[^/]+)"

urlpatterns = [
    route(rf"tenants/{SLUG}/books", views.BookListView.as_view(), "book-list"),
    # Before the detail route: "search" is not a book id.
    route(rf"tenants/{SLUG}/books/search", views.BookSearchView.as_view(), "book-search"),
    route(rf"tenants/{SLUG}/books/{BOOK}", views.BookDetailView.as_view(), "book-detail"),
    route(rf"tenants/{SLUG}/books/{BOOK}/versions", views.VersionListView.as_view(), "book-versions"),
    route(
        rf"tenants/{SLUG}/books/{BOOK}/versions/(?P<number>[^/]+)",
        views.VersionDetailView.as_view(),
        "book-version",
    ),
    route(
        rf"tenants/{SLUG}/books/{BOOK}/versions/(?P<a>[^/]+)/diff/(?P<b>[^/]+)",
        views.VersionDiffView.as_view(),
        "book-version-diff",
    ),
]
