"""The conversations API: the staff queue and the handoff actions (take, resolve, return to the bot)."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Conversation, TransitionDecision
from conversations.services.state import (
    DecisionOutcome,
    conversation_resolve,
    conversation_return_to_bot,
    conversation_take,
)
from conversations.states import Perm, State


class CanViewConversations(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("conversations.view_conversation"))


class CanHandleConversations(BasePermission):
    # The transition's own django-fsm permission is checked again by the service.
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm(Perm.HANDLE))


class ConversationPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class ConversationSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True)
    waiting_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "state",
            "state_label",
            "started_at",
            "last_activity_at",
            "last_inbound_at",
            "closed_at",
            "handoff_requested_at",
            "assigned_to",
            "waiting_seconds",
        ]
        read_only_fields = fields

    def get_waiting_seconds(self, conversation: Conversation) -> int | None:
        """How long the customer has waited for a person (only while waiting)."""
        if conversation.state != State.HANDOFF_REQUESTED or conversation.handoff_requested_at is None:
            return None
        return int((timezone.now() - conversation.handoff_requested_at).total_seconds())


class HandoffNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DecisionOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=TransitionDecision.Outcome.choices)
    conversation_id = serializers.IntegerField()
    source_state = serializers.CharField()
    state = serializers.CharField()
    transition = serializers.CharField()
    refusal = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True)
    decision_id = serializers.IntegerField(allow_null=True)


class ConversationListView(generics.ListAPIView):
    """Conversations, newest activity first; `?state=` filters, `?waiting=true` gives the staff queue."""

    serializer_class = ConversationSerializer
    permission_classes = [IsAuthenticated, CanViewConversations]
    pagination_class = ConversationPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=State.values, description="Only this state."),
            OpenApiParameter("waiting", OpenApiTypes.BOOL, description="Only those waiting for a person."),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Conversation]:
        queryset = Conversation.objects.select_related("assigned_to").order_by("-last_activity_at", "-pk")
        state = self.request.query_params.get("state")
        if state:
            if state not in State.values:
                raise serializers.ValidationError({"state": f"unknown state; one of {', '.join(State.values)}"})
            queryset = queryset.filter(state=state)
        if self.request.query_params.get("waiting", "").lower() in {"1", "true", "yes"}:
            queryset = queryset.filter(state=State.HANDOFF_REQUESTED).order_by("handoff_requested_at", "pk")
        return queryset


_ACTION_RESPONSES = {
    200: DecisionOutcomeSerializer,
    403: OpenApiResponse(DecisionOutcomeSerializer, description="The user may not make this transition."),
    404: OpenApiResponse(description="No such conversation."),
    409: OpenApiResponse(DecisionOutcomeSerializer, description="No such transition from the current state."),
}


class _HandoffActionView(APIView):
    """POST runs one staff transition: 200 when applied, 403 without its permission, 409 when impossible."""

    permission_classes = [IsAuthenticated, CanHandleConversations]
    serializer_class = HandoffNoteSerializer
    service: Callable[..., DecisionOutcome]

    def post(self, request: Request, conversation_id: int) -> Response:
        get_object_or_404(Conversation, pk=conversation_id)
        body = HandoffNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = self.service(conversation_id=conversation_id, user=request.user, note=body.validated_data["note"])
        payload = DecisionOutcomeSerializer(outcome).data
        if not outcome.refused:
            return Response(payload, status=status.HTTP_200_OK)
        if outcome.refusal == TransitionDecision.Refusal.NOT_PERMITTED:
            return Response(payload, status=status.HTTP_403_FORBIDDEN)
        return Response(payload, status=status.HTTP_409_CONFLICT)


@extend_schema_view(
    post=extend_schema(request=HandoffNoteSerializer, responses=_ACTION_RESPONSES, summary="Take the conversation")
)
class ConversationTakeView(_HandoffActionView):
    service = staticmethod(conversation_take)


@extend_schema_view(
    post=extend_schema(request=HandoffNoteSerializer, responses=_ACTION_RESPONSES, summary="Resolve the conversation")
)
class ConversationResolveView(_HandoffActionView):
    service = staticmethod(conversation_resolve)


@extend_schema_view(
    post=extend_schema(request=HandoffNoteSerializer, responses=_ACTION_RESPONSES, summary="Hand back to the bot")
)
class ConversationReturnView(_HandoffActionView):
    service = staticmethod(conversation_return_to_bot)
