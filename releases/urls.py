from django.urls import path

from . import timeline

urlpatterns = [
    path("projects/<slug:slug>/deployments/", timeline.timeline, name="deployments"),
]
