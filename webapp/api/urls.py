from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("hardware", views.HardwareProfileViewSet, basename="hardware")
router.register("experiments", views.ExperimentViewSet, basename="experiment")
router.register("networks", views.NetworkViewSet, basename="network")

urlpatterns = [
    path("techniques/", views.TechniqueList.as_view(), name="api-techniques"),
    path("techniques/<str:name>/", views.TechniqueDetail.as_view(), name="api-technique"),
    path("token/", views.TokenView.as_view(), name="api-token"),
    path("uploads/", views.UploadView.as_view(), name="api-uploads"),
    path("flows/", views.FlowView.as_view(), name="api-flows"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The schema and its pages are for signed-in users and tokens, like every other URL but the login
    # page (SPECTACULAR_SETTINGS' SERVE_PERMISSIONS); the split view serves Swagger's start-up script as a
    # file, which the Content-Security-Policy allows (an inline script it would block).
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="swagger"),
    # (no ReDoc page: its bundle loads fonts and its logo from the vendor's CDN, and the site is served offline)
    path("", include(router.urls)),
]
