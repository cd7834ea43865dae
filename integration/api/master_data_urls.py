"""The master-data API's paths: each item at its business key (docs/api.md "Master data")."""

from django.urls import path

from integration.api import master_data

app_name = "master-data"

urlpatterns = [
    path("stations/<str:code>", master_data.StationView.as_view(), name="station"),
    path("operations/<str:code>", master_data.OperationView.as_view(), name="operation"),
    path(
        "routes/<str:code>/versions/<int:version_no>",
        master_data.RouteVersionView.as_view(),
        name="route-version",
    ),
    path("runs/<str:run_no>", master_data.RunView.as_view(), name="run"),
]
