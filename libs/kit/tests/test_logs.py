import io
import json
import logging

from opentelemetry import trace

from kit.logs import JsonFormatter, request_id_var
from kit.telemetry import setup_tracing


def test_log_lines_are_json_with_request_and_trace_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("demo"))
    logger = logging.getLogger("kit.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    tracer = setup_tracing("demo").get_tracer("test")
    token = request_id_var.set("req-7")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.warning("charged %s", "order_1", extra={"amount": 500})
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "charged order_1"
    assert line["service"] == "demo"
    assert line["level"] == "WARNING"
    assert line["request_id"] == "req-7"
    assert line["trace_id"] == trace_id
    assert line["amount"] == 500
    assert trace.get_current_span().get_span_context().is_valid is False
