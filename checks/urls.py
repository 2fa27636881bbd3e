from django.urls import path

from .views import pipeline, release, report

# A release is seen per environment: /projects/<slug>/releases/<version>/<environment>/.
RELEASE = "projects/<slug:slug>/releases/<str:version>/<slug:env_slug>/"

urlpatterns = [
    path("", pipeline.overview, name="overview"),
    path("overview/<slug:slug>/", pipeline.overview_card, name="overview-card"),
    path("projects/<slug:slug>/", pipeline.pipeline, name="project"),
    path("projects/<slug:slug>/environments/<slug:env_slug>/lock", pipeline.lock, name="env-lock"),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/unlock",
        pipeline.unlock,
        name="env-unlock",
    ),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/freezes",
        pipeline.freeze,
        name="env-freeze",
    ),
    path(
        "projects/<slug:slug>/environments/<slug:env_slug>/freezes/<int:freeze_id>/delete",
        pipeline.unfreeze,
        name="env-unfreeze",
    ),
    path(RELEASE, release.release_page, name="release"),
    path(RELEASE + "report", report.report_page, name="release-report"),
    path(RELEASE + "runs", release.run_checks, name="release-run"),
    path(RELEASE + "approvals", release.approve, name="release-approve"),
    path(RELEASE + "deployments", release.deploy, name="release-deploy"),
    path(RELEASE + "deployments/break-glass", release.break_glass, name="release-break-glass"),
    path(
        RELEASE + "deployments/<int:deployment_id>/finish",
        release.finish_deployment,
        name="release-deployment-finish",
    ),
    path(
        RELEASE + "deployments/<int:deployment_id>/rollback",
        release.rollback,
        name="release-rollback",
    ),
    path(RELEASE + "unlock", release.unlock, name="release-unlock"),
    path(RELEASE + "checks/<int:check_id>/tick", release.tick, name="release-tick"),
    path(RELEASE + "checks/<int:check_id>/attest", release.attest, name="release-attest"),
    path(
        RELEASE + "attestations/<int:attestation_id>/withdraw",
        release.withdraw_attestation,
        name="release-attestation-withdraw",
    ),
    path(RELEASE + "checks/<int:check_id>/waivers", release.waive, name="release-waive"),
    path(
        RELEASE + "waivers/<int:waiver_id>/revoke",
        release.revoke_waiver,
        name="release-waiver-revoke",
    ),
]
