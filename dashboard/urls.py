"""URLs of the dashboard, under /dashboard/."""

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="index"),
    path("conversations/", views.conversations, name="conversations"),
]
