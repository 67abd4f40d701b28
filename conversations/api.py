"""The conversations API: the staff queue, the handoff actions (take, resolve, return to the bot) and the KPIs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.kpi_series import BUCKETS, kpi_series
from conversations.kpis import MAX_PERIOD, KPIReport, kpi_checks, kpis_for_period, month_spend
from conversations.models import Conversation, TransitionDecision
from conversations.services.replies import StaffReplyRefused
from conversations.services.state import (
    DecisionOutcome,
    conversation_resolve,
    conversation_return_to_bot,
    conversation_take,
)
from conversations.states import Perm, State
from pyloto.pipeline.dispatch import staff_reply_send


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


# --- KPIs ----------------------------------------------------------------------------------------

KPI_DEFAULT_PERIOD = timedelta(hours=24)
_DATE_ERRORS = {
    "invalid": "not an ISO 8601 date-time; write e.g. 2026-05-01T00:00:00Z or 2026-05-01T00:00:00-03:00.",
    "make_aware": "not a valid date-time in the server's time zone; add an offset, e.g. Z or -03:00.",
}
_OFFSET_AS_SPACE = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


class KPIQuerySerializer(serializers.Serializer):
    """`?since=&until=` as ISO 8601 date-times; a time without an offset is read in the server's time zone."""

    since = serializers.DateTimeField(
        required=False, error_messages=_DATE_ERRORS, help_text="Start (inclusive). Default: `until` minus 24 h."
    )
    until = serializers.DateTimeField(
        required=False, error_messages=_DATE_ERRORS, help_text="End (exclusive). Default: now."
    )
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS), required=False, help_text="Series per hour or per day. Default: hour up to 48 h."
    )

    def to_internal_value(self, data):
        # A "+" in a query string arrives as a space ("2026-05-01T00:00:00 03:00"): read it as the offset
        # it was meant to be rather than refusing a date the caller wrote correctly.
        fixed = {}
        for key in ("since", "until"):
            value = data.get(key)
            if value is not None:
                fixed[key] = _OFFSET_AS_SPACE.sub(r"\1+\2", value) if isinstance(value, str) else value
        return super().to_internal_value(fixed)

    def validate(self, attrs: dict) -> dict:
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since") or until - KPI_DEFAULT_PERIOD
        if since >= until:
            raise serializers.ValidationError({"since": "since must be before until."})
        if until - since > MAX_PERIOD:
            raise serializers.ValidationError({"since": f"the period may cover at most {MAX_PERIOD.days} days."})
        return {"since": since, "until": until, "bucket": attrs.get("bucket")}


class InboundKPISerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Inbound messages stored in the period.")
    answered = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    dropped = serializers.IntegerField()
    dropped_by_reason = serializers.DictField(child=serializers.IntegerField())
    dead_lettered = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Still received/processing, younger than the loss horizon.")
    lost = serializers.IntegerField(help_text="Still received/processing past the loss horizon (15 min by default).")
    loss_rate = serializers.FloatField(allow_null=True, help_text="(dead_lettered + lost) / received.")


class EscalationKPISerializer(serializers.Serializer):
    conversations_active = serializers.IntegerField(help_text="Conversations with an inbound message in the period.")
    conversations_escalated = serializers.IntegerField(help_text="Of those, how many reached handoff_requested.")
    rate = serializers.FloatField(allow_null=True)


class FSMKPISerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="The bot's state decisions in the period.")
    applied = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    refused = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="(applied + unchanged) / total.")


class ConstraintKPISerializer(serializers.Serializer):
    blocked = serializers.IntegerField(help_text="Guard violations recorded (one per constraint a reply broke).")
    blocked_by_constraint = serializers.DictField(child=serializers.IntegerField())
    contract_closure_blocked = serializers.IntegerField()
    violations_sent = serializers.IntegerField(
        help_text="0 by construction: replies are stored only after the guard. Runtime check: "
        "pyloto_constraint_violations_sent_total."
    )
    contract_closure_sent = serializers.IntegerField()
    judge_verdicts = serializers.IntegerField(
        help_text="Replies the LLM policy judge read (GUARD_JUDGE_MODE shadow or enforce)."
    )
    judge_agreed = serializers.IntegerField(help_text="Judge verdicts that agreed with the deterministic guard.")
    judge_disagreed = serializers.IntegerField(help_text="Judge verdicts that disagreed with the deterministic guard.")
    judge_blocked = serializers.IntegerField(
        help_text="Replies the judge blocked or handed over itself (enforce mode), in the promise ledger."
    )


class ResponseTimeKPISerializer(serializers.Serializer):
    replies = serializers.IntegerField(help_text="Sent replies created in the period that the figures cover.")
    p50_seconds = serializers.FloatField(allow_null=True)
    p95_seconds = serializers.FloatField(allow_null=True)
    method = serializers.ChoiceField(choices=["percentile_cont", "sample"])


class LLMKPISerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    by_outcome = serializers.DictField(child=serializers.IntegerField())
    by_task = serializers.DictField(child=serializers.IntegerField())
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    estimated_cost_usd = serializers.DecimalField(max_digits=20, decimal_places=8, coerce_to_string=False)


class WhatsAppCostKPISerializer(serializers.Serializer):
    billable_messages = serializers.IntegerField(help_text="Messages a status reported billable (pricing object).")
    by_category = serializers.DictField(child=serializers.IntegerField())
    cost_by_currency = serializers.DictField(
        child=serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
    )
    cost_by_category = serializers.DictField(
        child=serializers.DictField(
            child=serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
        )
    )
    cost_by_day = serializers.DictField(
        child=serializers.DictField(
            child=serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
        )
    )
    conversations = serializers.IntegerField(help_text="Conversations with a billable message.")
    cost_per_conversation = serializers.SerializerMethodField()
    llm_cost_usd_per_conversation = serializers.DecimalField(
        max_digits=20, decimal_places=8, coerce_to_string=False, allow_null=True
    )
    turns = serializers.IntegerField(help_text="Runs that produced a message.")
    bot_messages = serializers.IntegerField()
    messages_per_turn = serializers.FloatField(allow_null=True)

    @extend_schema_field(serializers.DictField(child=serializers.FloatField()))
    def get_cost_per_conversation(self, figures) -> dict[str, float]:
        return {currency: float(figures.cost_per_conversation(currency) or 0) for currency in figures.cost_by_currency}


class ReplyKPISerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_provider = serializers.DictField(child=serializers.IntegerField())
    failed = serializers.IntegerField()
    fallback_share = serializers.FloatField(allow_null=True, help_text="Replies by the offline provider / all.")


class KPICheckSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    unit = serializers.ChoiceField(choices=["ratio", "seconds", "count"])
    target = serializers.CharField()
    met = serializers.BooleanField(allow_null=True)


class KPIBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="The hour or day this row covers (server time zone).")
    messages_in = serializers.IntegerField()
    messages_out = serializers.IntegerField()
    conversations_active = serializers.IntegerField()
    conversations_escalated = serializers.IntegerField()
    escalation_rate = serializers.FloatField(allow_null=True)
    bot_decisions = serializers.IntegerField()
    bot_decisions_ok = serializers.IntegerField()
    fsm_success_rate = serializers.FloatField(allow_null=True)
    replies_measured = serializers.IntegerField()
    response_p50_seconds = serializers.FloatField(allow_null=True)
    response_p95_seconds = serializers.FloatField(allow_null=True)
    llm_cost_usd = serializers.DecimalField(max_digits=20, decimal_places=8, coerce_to_string=False)


class KPISeriesSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=list(BUCKETS))
    buckets = KPIBucketSerializer(many=True)
    funnel = serializers.DictField(
        child=serializers.IntegerField(), help_text="Conversations started in the period that reached each state."
    )
    handoff_queue = serializers.DictField(
        child=serializers.IntegerField(), help_text="Conversations waiting for a person now, by age band."
    )


class BudgetKPISerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The calendar month so far (server time zone), whatever the period.")
    budget_brl = serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=False, allow_null=True, help_text="None: no budget set."
    )
    spent_brl = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
    whatsapp_brl = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
    llm_brl = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=False)
    usd_to_brl = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=False)
    used_ratio = serializers.FloatField(allow_null=True, help_text="Spent / budget; the alerts fire at 0.8 and 1.0.")


class KPIReportSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    generated_at = serializers.DateTimeField()
    inbound = InboundKPISerializer()
    escalation = EscalationKPISerializer()
    fsm = FSMKPISerializer()
    constraints = ConstraintKPISerializer()
    response_time = ResponseTimeKPISerializer()
    llm = LLMKPISerializer()
    replies = ReplyKPISerializer()
    whatsapp = WhatsAppCostKPISerializer()
    targets = serializers.SerializerMethodField()
    series = serializers.SerializerMethodField()
    budget = serializers.SerializerMethodField()

    @extend_schema_field(KPICheckSerializer(many=True))
    def get_targets(self, report: KPIReport) -> list:
        return KPICheckSerializer(kpi_checks(report), many=True).data

    @extend_schema_field(KPISeriesSerializer())
    def get_series(self, report: KPIReport) -> dict:
        """Per hour (periods up to 48 h) or per day, the state funnel and the handoff queue (the dashboard's plots)."""
        return KPISeriesSerializer(self.context["series"]).data

    @extend_schema_field(BudgetKPISerializer())
    def get_budget(self, report: KPIReport) -> dict:
        """This month's WhatsApp + LLM spend against the monthly budget (BRL)."""
        return BudgetKPISerializer(self.context["budget"]).data


class KPIView(APIView):
    """GET the KPI report for `since <= t < until` (default: the last 24 hours). Staff only (`is_staff`)."""

    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        summary="KPIs for a period",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Start, inclusive (default: until - 24 h)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="End, exclusive (default: now)."),
            OpenApiParameter("bucket", OpenApiTypes.STR, enum=list(BUCKETS), description="Series per hour or day."),
        ],
        responses={
            200: KPIReportSerializer,
            400: OpenApiResponse(description="A date is not ISO 8601, since is not before until, or over 366 days."),
        },
    )
    def get(self, request: Request) -> Response:
        query = KPIQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since, until = query.validated_data["since"], query.validated_data["until"]
        report = kpis_for_period(since=since, until=until)
        series = kpi_series(since=since, until=until, bucket=query.validated_data["bucket"], now=report.generated_at)
        context = {"series": series, "budget": month_spend(now=report.generated_at)}
        return Response(KPIReportSerializer(report, context=context).data)


class StaffReplySerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)


class StaffReplyResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    status = serializers.CharField()


class StaffReplyRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


_REFUSAL_STATUS = {"not_permitted": status.HTTP_403_FORBIDDEN, "invalid_text": status.HTTP_400_BAD_REQUEST}


@extend_schema_view(
    post=extend_schema(
        request=StaffReplySerializer,
        responses={
            201: StaffReplyResultSerializer,
            400: OpenApiResponse(description="Empty or over 4 096 characters."),
            403: OpenApiResponse(StaffReplyRefusalSerializer, description="The user may not handle conversations."),
            404: OpenApiResponse(description="No such conversation."),
            409: OpenApiResponse(
                StaffReplyRefusalSerializer, description="Not taken by a person, or outside the 24-hour window."
            ),
        },
        summary="Send the customer a message as the staff member handling the conversation",
    )
)
class ConversationReplyView(APIView):
    """POST a staff member's message: queued for delivery (201), or refused with the reason."""

    permission_classes = [IsAuthenticated, CanHandleConversations]
    serializer_class = StaffReplySerializer

    def post(self, request: Request, conversation_id: int) -> Response:
        get_object_or_404(Conversation, pk=conversation_id)
        body = StaffReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message = staff_reply_send(
                conversation_id=conversation_id, user=request.user, text=body.validated_data["text"]
            )
        except StaffReplyRefused as refusal:
            payload = {"detail": str(refusal), "code": refusal.code}
            return Response(payload, status=_REFUSAL_STATUS.get(refusal.code, status.HTTP_409_CONFLICT))
        return Response({"message_id": message.pk, "status": message.status}, status=status.HTTP_201_CREATED)
