"""The biller API's disputes (/api/v1/biller/disputes): the disputes about the biller that the biller
answers (taxonomy: answered by the biller), and its answer to one, which resolves it."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api import disputes as presenters
from api.base import ERRORS, BillerView
from disputes import selectors, services

TAG = ["biller"]
LIST_LIMIT = 200


class AnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(max_length=4000)


class BillerDisputeListView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_disputes",
        summary="Disputes about the biller that it answers (open ones unless ?status=all), oldest due first",
        parameters=[OpenApiParameter("status", str, enum=["open", "all"], required=False)],
        responses={200: presenters.DisputeListSerializer, **ERRORS},
    )
    def get(self, request):
        open_only = request.query_params.get("status", "open") != "all"
        disputes = selectors.disputes_for_biller(self.biller_access.biller, open_only=open_only).order_by(
            "due_at"
        )
        body = {"disputes": [presenters.dispute(d) for d in disputes[:LIST_LIMIT]]}
        return Response(presenters.DisputeListSerializer(body).data)


class BillerDisputeAnswerView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_answer_dispute",
        request=AnswerSerializer,
        responses={200: presenters.DisputeSerializer, **ERRORS},
    )
    def post(self, request, ref: str):
        data = AnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        biller = self.biller_access.biller
        dispute = selectors.dispute_for_biller(biller, ref)
        services.answer_dispute(dispute=dispute, answer=data.validated_data["answer"], biller=biller)
        return Response(
            presenters.DisputeSerializer(presenters.dispute(selectors.dispute_for_biller(biller, ref))).data
        )
