from django.urls import path

from .views import release

# A release is seen per environment: /projects/<slug>/releases/<version>/<environment>/.
RELEASE = "projects/<slug:slug>/releases/<str:version>/<slug:env_slug>/"

urlpatterns = [
    path(RELEASE, release.release_page, name="release"),
]
