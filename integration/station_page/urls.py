"""The station page's URLs, under /station/ (docs/station-page.md)."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from integration.station_page import views

app_name = "station"

urlpatterns = [
    path("", views.station_list, name="list"),
    path("login/", views.StationLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="station:login"), name="logout"),
    path("<str:station_code>/", views.terminal, name="terminal"),
    path("<str:station_code>/track-in/", views.track_in, name="track-in"),
    path("<str:station_code>/track-out/", views.track_out, name="track-out"),
    path("<str:station_code>/judge/", views.judge, name="judge"),
]
