"""The stations API's paths, as the replaced system's station clients call them."""

from django.urls import path

from integration.api import stations

app_name = "stations"

urlpatterns = [
    path("resolve-unit/<str:sn>", stations.ResolveUnitView.as_view(), name="resolve-unit"),
    path("<str:station_code>/track-in", stations.TrackInView.as_view(), name="track-in"),
    path("<str:station_code>/track-out", stations.TrackOutView.as_view(), name="track-out"),
    path("<str:station_code>/queue", stations.QueueView.as_view(), name="queue"),
    path(
        "<str:station_code>/units/<str:sn>/data-specs",
        stations.DataSpecsView.as_view(),
        name="data-specs",
    ),
]
