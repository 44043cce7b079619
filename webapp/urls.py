from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("account/", views.account, name="account"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("experiments/", views.experiment_list, name="experiments"),
    path("experiments/new/", views.experiment_new, name="experiment_new"),
    path("experiments/new/settings/", views.experiment_settings, name="experiment_settings"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
    path("experiments/<int:pk>/status/", views.experiment_status, name="experiment_status"),
    path("experiments/<int:pk>/plot.json", views.experiment_plot, name="experiment_plot"),
    path("experiments/<int:pk>/series.json", views.experiment_series, name="experiment_series"),
    path("experiments/<int:pk>/candidates/", views.experiment_candidates, name="experiment_candidates"),
    path("experiments/<int:pk>/candidates/<int:index>/", views.candidate_detail, name="candidate"),
    path("experiments/<int:pk>/cancel/", views.experiment_cancel, name="experiment_cancel"),
    path("experiments/<int:pk>/delete/", views.experiment_delete, name="experiment_delete"),
    path("experiments/<int:pk>/rerun/", views.experiment_rerun, name="experiment_rerun"),
    path("experiments/<int:pk>/share/", views.experiment_share, name="experiment_share"),
    # artifacts and uploads through views that check who may see them (never a bare /media/ mount)
    path("experiments/<int:pk>/files/<int:artifact_id>/<str:name>", views.artifact_file, name="artifact_file"),
    path("uploads/<int:owner_id>/<str:name>", views.upload_file, name="upload_file"),
    path("compare/", views.compare, name="compare"),
    path("hardware/", views.hardware_list, name="hardware_list"),
    path("hardware/new/", views.hardware_edit, name="hardware_new"),
    path("hardware/<slug:slug>/", views.hardware_detail, name="hardware"),
    path("hardware/<slug:slug>/edit/", views.hardware_edit, name="hardware_edit"),
    path("hardware/<slug:slug>/lookup-table/", views.hardware_lut, name="hardware_lut"),
    path("flows/new/", views.flow_new, name="flow_new"),
    path("flows/<str:flow_id>/", views.flow_detail, name="flow"),
    path("networks/", views.network_list, name="networks"),
    path("networks/upload/", views.network_upload, name="network_upload"),
    path("networks/<int:pk>/", views.network_detail, name="network"),
    path("networks/<int:pk>/download/<str:fmt>/", views.network_download, name="network_download"),
    path("networks/<int:pk>/delete/", views.network_delete, name="network_delete"),
    path("networks/<int:pk>/measure/", views.network_measure, name="network_measure"),
    path("api/", include("webapp.api.urls")),
    path("admin/", admin.site.urls),
]
