#!/usr/bin/env python3
"""An independent gRPC client (grpc-core through Python's grpcio) against a running gateway.

Usage: health_reflection.py ADDRESS CA_PEM CERT_PEM KEY_PEM
Checks grpc.health.v1 (overall status SERVING) and lists services through server reflection.
Prints one JSON object and exits 0 when both work, 1 otherwise.
"""
import json
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def main() -> int:
    address, ca, cert, key = sys.argv[1:5]
    creds = grpc.ssl_channel_credentials(
        root_certificates=open(ca, "rb").read(),
        private_key=open(key, "rb").read(),
        certificate_chain=open(cert, "rb").read(),
    )
    with grpc.secure_channel(address, creds) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        services = []
        for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
            services.extend(s.name for s in response.list_services_response.service)
    serving = status == health_pb2.HealthCheckResponse.SERVING
    print(json.dumps({"health": health_pb2.HealthCheckResponse.ServingStatus.Name(status),
                      "services": sorted(services)}))
    return 0 if serving and "grpc.health.v1.Health" in services else 1


if __name__ == "__main__":
    sys.exit(main())
