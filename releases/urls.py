from django.urls import path

from . import audit_log, timeline, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/<slug:slug>/", views.overview_card, name="overview-card"),
    path("projects/<slug:slug>/", views.pipeline, name="project"),
    path("projects/<slug:slug>/environments/<slug:env_slug>/lock", views.lock, name="env-lock"),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/unlock", views.unlock, name="env-unlock"
    ),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/freezes",
        views.freeze,
        name="env-freeze",
    ),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/freezes/<int:freeze_id>/delete",
        views.unfreeze,
        name="env-unfreeze",
    ),
    path("projects/<slug:slug>/deployments/", timeline.timeline, name="deployments"),
    path("audit/", audit_log.all_projects_audit_log, name="audit-all"),
    path("audit/export", audit_log.all_projects_audit_export, name="audit-all-export"),
    path("projects/<slug:slug>/audit/", audit_log.audit_log, name="audit-log"),
    path("projects/<slug:slug>/audit/export", audit_log.audit_export_view, name="audit-export"),
]
