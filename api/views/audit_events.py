"""The project's audit log, newest first, with filters and cursor pagination (keyset on seq:
pages stay correct while events are appended and cost the same however deep they go)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination

from audit.models import AuditEvent

from ..lookups import readable_project
from ..schema import READ_ERRORS, responses
from ..serializers import AuditEventSerializer, AuditQuery, valid


class SeqCursor(CursorPagination):
    ordering = "-seq"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class AuditEventsView(ListAPIView):
    serializer_class = AuditEventSerializer
    pagination_class = SeqCursor

    def get_queryset(self) -> QuerySet[AuditEvent]:
        project, _ = readable_project(self.request, self.kwargs["project"])
        values = valid(AuditQuery, self.request.query_params)
        filters: dict[str, Any] = {"project_id": project.pk}
        for name in ("action", "outcome", "actor", "object_type", "object_id"):
            if name in values:
                filters[name] = values[name]
        if "since" in values:
            filters["occurred_at__gte"] = values["since"]
        if "until" in values:
            filters["occurred_at__lt"] = values["until"]
        return AuditEvent.objects.filter(**filters)

    @extend_schema(
        operation_id="audit_events_list",
        summary="The project's audit events, newest first",
        parameters=[AuditQuery],
        responses=responses({200: AuditEventSerializer(many=True)}, READ_ERRORS),
    )
    def get(self, *args: Any, **kwargs: Any) -> Any:
        return super().get(*args, **kwargs)
