from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api.views import AuditEventViewSet, AuditVerifyView

router = SimpleRouter(trailing_slash=False)
router.register("events", AuditEventViewSet, basename="audit-event")

urlpatterns = [path("verify", AuditVerifyView.as_view(), name="audit-verify"), *router.urls]
