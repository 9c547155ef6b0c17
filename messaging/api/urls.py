from rest_framework.routers import SimpleRouter

from messaging.api.views import InboxViewSet, MemoryViewSet, MessageViewSet, QueryViewSet

router = SimpleRouter(trailing_slash=False)
router.register("messages", MessageViewSet, basename="message")
router.register("inbox", InboxViewSet, basename="inbox")
router.register("queries", QueryViewSet, basename="query")
router.register("memory", MemoryViewSet, basename="memory")

urlpatterns = router.urls
