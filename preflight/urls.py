from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.web import csp
from core.web.docs import doc

from . import health
from .login import LoginView
from .observability import exposition

# Django's own error answers: the API's error body on API paths, the error pages elsewhere.
handler400 = "core.error_views.bad_request"
handler403 = "core.error_views.permission_denied"
handler404 = "core.error_views.page_not_found"
handler500 = "core.error_views.server_error"

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    # For Prometheus with PREFLIGHT_METRICS_TOKEN; 404 while it is unset (docs/operations.md).
    path("metrics", exposition.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path(
        "login/",
        LoginView.as_view(),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("docs/<str:name>", doc, name="docs"),
    path("csp-report", csp.report, name="csp-report"),
    path("", include("releases.urls")),
    path("", include("audit.urls")),
    path("", include("checks.urls")),
    path("", include("backups.urls")),
]
