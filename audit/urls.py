from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.all_projects_audit_log, name="audit-all"),
    path("audit/export", views.all_projects_audit_export, name="audit-all-export"),
    path("projects/<slug:slug>/audit/", views.audit_log, name="audit-log"),
    path("projects/<slug:slug>/audit/export", views.audit_export_view, name="audit-export"),
]
