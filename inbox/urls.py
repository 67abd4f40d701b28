"""URLs of the staff inbox, under /inbox/."""

from django.urls import path

from inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.take_next, name="take-next"),
    path("<int:conversation_id>/", views.conversation, name="conversation"),
    path("<int:conversation_id>/live/", views.conversation_live, name="conversation-live"),
    path("<int:conversation_id>/take/", views.take, name="take"),
    path("<int:conversation_id>/reply/", views.reply, name="reply"),
    path("<int:conversation_id>/follow-up/", views.follow_up, name="follow-up"),
    path("<int:conversation_id>/resolve/", views.resolve, name="resolve"),
    path("<int:conversation_id>/return/", views.return_to_bot, name="return"),
]
