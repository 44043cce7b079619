from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("hardware", views.HardwareProfileViewSet, basename="hardware")
router.register("experiments", views.ExperimentViewSet, basename="experiment")
router.register("networks", views.NetworkViewSet, basename="network")

urlpatterns = [
    path("techniques/", views.TechniqueList.as_view(), name="api-techniques"),
    path("techniques/<str:name>/", views.TechniqueDetail.as_view(), name="api-technique"),
    path("token/", obtain_auth_token, name="api-token"),
    path("uploads/", views.UploadView.as_view(), name="api-uploads"),
    path("flows/", views.FlowView.as_view(), name="api-flows"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger"),
    # (no ReDoc page: its bundle loads its logo from the vendor's CDN, and the site is served offline)
    path("", include(router.urls)),
]
