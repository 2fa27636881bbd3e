from django.urls import path

from . import views

urlpatterns = [
    path("projects/<slug:slug>/backups/", views.backups_page, name="backups"),
    path(
        "projects/<slug:slug>/backups/<str:name>/",
        views.database_panel_view,
        name="backup-database",
    ),
    path("projects/<slug:slug>/backups/<str:name>/drills", views.drill_now, name="backup-drill"),
    path(
        "projects/<slug:slug>/backups/<str:name>/schedule",
        views.schedule_edit,
        name="backup-schedule",
    ),
]
