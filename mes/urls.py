"""Root URLs: the back office, the station page, the API, its schema and docs, health
checks and metrics."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mes.api.views import ApiRootNotFound
from mes.health import healthz, readyz
from mes.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("station/", include("integration.station_page.urls")),
    path("api/integration/", include("integration.api.urls")),
    path("api/stations/", include("integration.api.station_urls")),
    path("api/master-data/", include("integration.api.master_data_urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    re_path(r"^api/", ApiRootNotFound.as_view()),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("metrics/database", include("integration.database_metrics")),
]
