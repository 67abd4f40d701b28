"""The DRF API under /api/: each app contributes its routes here."""

from django.urls import path

from conversations import api as conversations_api

urlpatterns: list = [
    path("conversations/", conversations_api.ConversationListView.as_view(), name="api-conversation-list"),
    path(
        "conversations/<int:conversation_id>/handoff/take/",
        conversations_api.ConversationTakeView.as_view(),
        name="api-conversation-take",
    ),
    path(
        "conversations/<int:conversation_id>/handoff/resolve/",
        conversations_api.ConversationResolveView.as_view(),
        name="api-conversation-resolve",
    ),
    path(
        "conversations/<int:conversation_id>/handoff/return/",
        conversations_api.ConversationReturnView.as_view(),
        name="api-conversation-return",
    ),
    path(
        "conversations/<int:conversation_id>/messages/",
        conversations_api.ConversationReplyView.as_view(),
        name="api-conversation-reply",
    ),
    path("kpis/", conversations_api.KPIView.as_view(), name="api-kpis"),
]
