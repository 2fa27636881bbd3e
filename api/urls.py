from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from .docs import RedocView, SwaggerView
from .errors import not_found
from .views.approvals import ApprovalsView
from .views.audit_events import AuditEventsView
from .views.backups import BackupsView
from .views.check_results import CheckResultsView
from .views.deployments import DeploymentsView, FinishView, RollbackView
from .views.drills import DrillsView, DrillView
from .views.gate import GateView
from .views.releases import ReleasesView, ReleaseView
from .views.runs import RunsView, RunView

app_name = "api"

RELEASE = "projects/<str:project>/releases/<str:version>/"

urlpatterns = [
    path("projects/<str:project>/releases/", ReleasesView.as_view(), name="releases"),
    path(RELEASE, ReleaseView.as_view(), name="release"),
    path(RELEASE + "runs/", RunsView.as_view(), name="runs"),
    path("runs/<int:id>/", RunView.as_view(), name="run"),
    path(RELEASE + "gate/", GateView.as_view(), name="gate"),
    path(RELEASE + "approvals/", ApprovalsView.as_view(), name="approvals"),
    path("projects/<str:project>/check-results/", CheckResultsView.as_view(), name="check-results"),
    path("projects/<str:project>/deployments/", DeploymentsView.as_view(), name="deployments"),
    path("deployments/<int:id>/finish/", FinishView.as_view(), name="deployment-finish"),
    path("deployments/<int:id>/rollback/", RollbackView.as_view(), name="deployment-rollback"),
    path("projects/<str:project>/backups/", BackupsView.as_view(), name="backups"),
    path(
        "projects/<str:project>/databases/<str:database>/drills/",
        DrillsView.as_view(),
        name="drills",
    ),
    path("drills/<int:id>/", DrillView.as_view(), name="drill"),
    path("projects/<str:project>/audit-events/", AuditEventsView.as_view(), name="audit-events"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", RedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^.*$", not_found),
]
