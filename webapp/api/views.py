"""REST API. Each endpoint parses, calls a service or selector, serializes."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..errors import ApplicationError
from ..models import HardwareProfile
from ..services.uploads import UPLOAD_RULES
from .auth import ClientRateThrottle
from .parsers import SafeJSONParser
from .serializers import (ArtifactSerializer, CandidateSerializer, ExperimentInput, ExperimentSerializer,
                          HardwareProfileInput, HardwareProfileSerializer, NetworkSerializer, NetworkUploadInput,
                          TechniqueSerializer)


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise ApplicationError("The request body must be a JSON object.")
    return dict(request.data)


class HardwareProfileViewSet(viewsets.ModelViewSet):
    serializer_class = HardwareProfileSerializer
    lookup_field = "slug"
    queryset = HardwareProfile.objects.select_related("owner")

    @extend_schema(request=HardwareProfileInput, responses={201: HardwareProfileSerializer})
    def create(self, request, *args, **kwargs):
        data = _body(request)
        hw = services.hardware_profile_create(owner=request.user, slug=data.pop("slug", ""), data=data)
        return Response(HardwareProfileSerializer(hw).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=HardwareProfileInput, responses=HardwareProfileSerializer)
    def update(self, request, *args, **kwargs):
        data = _body(request)
        data.pop("slug", None)
        hw = services.hardware_profile_update(profile=self.get_object(), user=request.user, data=data)
        return Response(HardwareProfileSerializer(hw).data)

    def destroy(self, request, *args, **kwargs):
        services.hardware_profile_delete(profile=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}, "application/json": {"type": "object"}},
        responses=HardwareProfileSerializer, description="Attach the lookup table measured on the device "
        "(python -m engine.hardware.agent … --out lut.json): a multipart file or the JSON as the body. "
        "DELETE removes it.")
    @action(detail=True, methods=["post", "delete"], url_path="lookup-table",
            parser_classes=[MultiPartParser, SafeJSONParser])
    def lookup_table(self, request, slug=None):
        hw = self.get_object()
        if request.method == "DELETE":
            hw = services.hardware_lookup_table_remove(profile=hw, user=request.user)
            return Response(HardwareProfileSerializer(hw).data)
        f = request.FILES.get("file")
        if f is not None:
            data = f  # the service checks its size before reading it
        elif isinstance(request.data, dict) and request.data:
            data = dict(request.data)
        else:
            raise ApplicationError("No lookup table.", field_errors={"file": "send a file or a JSON body"})
        hw = services.hardware_lookup_table_attach(profile=hw, user=request.user, data=data)
        return Response(HardwareProfileSerializer(hw).data)


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ExperimentSerializer

    def get_queryset(self):
        p = self.request.query_params
        return selectors.experiment_list(user=self.request.user, technique=p.get("technique"), status=p.get("status"),
                                         hardware=p.get("hardware"), owner=p.get("owner"))

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in ("technique", "status", "hardware", "owner")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ExperimentInput, responses={201: ExperimentSerializer})
    def create(self, request):
        data = _body(request)
        unknown = sorted(set(data) - {"technique", "hardware", "config", "name", "shared"})
        if unknown:
            raise ApplicationError("Unknown fields.", field_errors={k: "unknown field" for k in unknown})
        for key in ("technique", "hardware"):
            if not isinstance(data.get(key), str) or not data.get(key):
                raise ApplicationError("The experiment is not valid.", field_errors={key: "required"})
        exp = services.experiment_launch(owner=request.user, technique=data["technique"], hardware=data["hardware"],
                                         config=data.get("config"), name=data.get("name", ""),
                                         shared=data.get("shared", False), typed=True)
        return Response(ExperimentSerializer(exp, context={"request": request}).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.experiment_delete(experiment=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        exp = services.experiment_cancel(experiment=self.get_object(), user=request.user)
        return Response(ExperimentSerializer(exp, context={"request": request}).data)

    @extend_schema(request={"application/json": {"type": "object", "required": ["shared"], "properties": {
        "shared": {"type": "boolean"}}}}, responses=ExperimentSerializer,
        description="Share the experiment with everyone signed in (true) or make it private to its owner and "
                    "staff (false). Owner or staff only.")
    @action(detail=True, methods=["post"], parser_classes=[SafeJSONParser])
    def share(self, request, pk=None):
        data = _body(request)
        unknown = sorted(set(data) - {"shared"})
        if unknown:
            raise ApplicationError("Unknown fields.", field_errors={k: "unknown field" for k in unknown})
        if "shared" not in data:
            raise ApplicationError("No switch.", field_errors={"shared": "required: true or false"})
        exp = services.experiment_share(experiment=self.get_object(), user=request.user, shared=data["shared"])
        return Response(ExperimentSerializer(exp, context={"request": request}).data)

    @extend_schema(parameters=[OpenApiParameter("front", str, description="1: only the Pareto front"),
                               OpenApiParameter("ordering", str, description="index or a metric, - for descending")],
                   responses=CandidateSerializer(many=True))
    @action(detail=True, methods=["get"])
    def candidates(self, request, pk=None):
        exp = self.get_object()
        qs = selectors.candidate_queryset(exp, front_only=request.query_params.get("front") in ("1", "true"),
                                          ordering=request.query_params.get("ordering", "index")[:80])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(CandidateSerializer(page, many=True).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def series(self, request, pk=None):
        return Response(selectors.series_for(self.get_object()))

    @extend_schema(responses=ArtifactSerializer(many=True))
    @action(detail=True, methods=["get"])
    def artifacts(self, request, pk=None):
        exp = self.get_object()
        return Response(ArtifactSerializer(exp.artifacts.select_related("candidate").all(), many=True).data)


class NetworkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Saved networks: list (filters problem, dataset, owner; sort), detail, delete (owner or staff),
    upload (multipart) and measuring on a profile."""

    serializer_class = NetworkSerializer

    def get_queryset(self):
        p = self.request.query_params
        sort = p.get("sort", "newest")
        if sort not in selectors.NETWORK_SORTS:
            raise ApplicationError("Unknown sort.", field_errors={"sort": f"one of {', '.join(selectors.NETWORK_SORTS)}"})
        return selectors.network_list(user=self.request.user, problem=p.get("problem"), dataset=p.get("dataset"), owner=p.get("owner"),
                                      sort=sort, profile=p.get("profile")).prefetch_related("latencies__hardware")

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in ("problem", "dataset", "owner", "sort", "profile")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": NetworkUploadInput}, responses={201: NetworkSerializer})
    def create(self, request):
        data = {k: request.data.get(k) for k in ("name", "architecture", "width", "classes", "resolution", "dataset")
                if request.data.get(k) is not None}
        unknown = sorted(set(request.data) - set(data) - {"weights"})
        if unknown:
            raise ApplicationError("Unknown fields.", field_errors={k: "unknown field" for k in unknown})
        net = services.network_upload(owner=request.user, data=data, weights=request.FILES.get("weights"))
        return Response(NetworkSerializer(net).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.network_delete(network=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request={"application/json": {"type": "object", "properties": {
        "hardware": {"type": "string"}, "measure_on_device": {"type": "boolean"}}}},
        responses={201: ExperimentSerializer}, description="Launch a network-latency run of this network on a "
        "profile; its figures are added to the network's latencies when it ends.")
    @action(detail=True, methods=["post"], parser_classes=[SafeJSONParser])
    def measure(self, request, pk=None):
        data = _body(request)
        if not isinstance(data.get("hardware"), str) or not data["hardware"]:
            raise ApplicationError("No profile.", field_errors={"hardware": "required: a hardware profile slug"})
        exp = services.network_measure(network=self.get_object(), hardware=data["hardware"], user=request.user,
                                       measure_on_device=bool(data.get("measure_on_device", False)))
        return Response(ExperimentSerializer(exp, context={"request": request}).data, status=status.HTTP_201_CREATED)


class FlowView(APIView):
    """A design-automation flow (search -> prune -> quantise): every step validated, the first launched."""

    @extend_schema(request={"application/json": {"type": "object", "properties": {
        "hardware": {"type": "string"}, "name": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "technique": {"type": "string"}, "config": {"type": "object"}}}}}}},
        responses={201: ExperimentSerializer}, description="Each step runs as an experiment when the one before "
        "succeeds, on the network it kept (the next technique's network setting is filled in).")
    def post(self, request):
        data = _body(request)
        unknown = sorted(set(data) - {"hardware", "name", "steps"})
        if unknown:
            raise ApplicationError("Unknown fields.", field_errors={k: "unknown field" for k in unknown})
        if not isinstance(data.get("hardware"), str) or not data["hardware"]:
            raise ApplicationError("The flow is not valid.", field_errors={"hardware": "required"})
        exp = services.flow_launch(owner=request.user, hardware=data["hardware"], steps=data.get("steps"),
                                   name=data.get("name", ""), typed=True)
        return Response(ExperimentSerializer(exp, context={"request": request}).data, status=status.HTTP_201_CREATED)


class TechniqueList(APIView):
    @extend_schema(responses=TechniqueSerializer(many=True))
    def get(self, request):
        return Response(TechniqueSerializer(selectors.technique_catalogue(), many=True).data)


class TechniqueDetail(APIView):
    @extend_schema(responses=TechniqueSerializer)
    def get(self, request, name: str):
        for t in selectors.technique_catalogue():
            if t["name"] == name:
                return Response(TechniqueSerializer(t).data)
        return Response({"detail": f"unknown technique {name!r}"}, status=404)




class UploadView(APIView):
    """Store a user's file (multipart field ``file``; ``kind`` one of
    ``UPLOAD_RULES``: image, safetensors, npy, csv, or corpus, a parallel text
    corpus as .zip / .tar.gz / .tsv) and return the path to put in a Config's
    file setting."""

    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "kind": {"type": "string", "enum": list(UPLOAD_RULES)}}}},
        responses={201: dict})
    def post(self, request):
        f = request.FILES.get("file")
        if f is None:
            raise ApplicationError("No file.", field_errors={"file": "required (multipart field 'file')"})
        kind = request.data.get("kind", "image")
        path = services.upload_save(owner=request.user, uploaded=f, kind=kind)
        return Response({"path": path, "kind": kind}, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """POST user name and password for an API token (``Authorization: Token …``). Throttled per client
    (the ``token`` rate) and, with the login form, per user name and address after repeated wrong
    passwords; a token expires after FRONTIER_TOKEN_TTL_DAYS (an expired one is replaced here)."""

    throttle_classes = [ClientRateThrottle]
    throttle_scope = "token"
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    @extend_schema(request=AuthTokenSerializer, responses={200: {"type": "object", "properties": {
        "token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}})
    def post(self, request, *args, **kwargs):
        from django.utils import timezone
        from rest_framework.authtoken.models import Token

        from ..services.accounts import client_address, login_locked_for, token_create
        from .auth import token_expires_at

        username = request.data.get("username") if isinstance(request.data, dict) else None
        username = username if isinstance(username, str) else ""
        address = client_address(request.META)
        wait = login_locked_for(username=username, address=address)
        if wait:
            raise Throttled(wait=wait, detail=f"Too many wrong passwords; try again in {wait} s.")
        # the password is checked through authenticate(): webapp.backends counts a wrong one
        serializer = self.get_serializer(data=request.data if isinstance(request.data, dict) else {})
        if not serializer.is_valid():
            raise ApplicationError("Unable to sign in with these credentials.",
                                   field_errors={k: " ".join(map(str, v)) for k, v in serializer.errors.items()})
        user = serializer.validated_data["user"]
        token = Token.objects.filter(user=user).first()
        if token is None or timezone.now() >= token_expires_at(token):
            token = token_create(user=user)
        return Response({"token": token.key, "expires_at": token_expires_at(token)})
