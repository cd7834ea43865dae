from django.urls import path

from integration.api import views
from integration.api.holds import HoldListView

app_name = "integration"

urlpatterns = [
    path("device-data", views.DeviceDataView.as_view(), name="device-data"),
    path("device-data/batch", views.DeviceDataBatchView.as_view(), name="device-data-batch"),
    path(
        "device-data/<int:record_id>",
        views.DeviceDataDetailView.as_view(),
        name="device-data-detail",
    ),
    path("messages", views.MessageListView.as_view(), name="messages"),
    path("holds", HoldListView.as_view(), name="holds"),
    path("whoami", views.WhoAmIView.as_view(), name="whoami"),
]
