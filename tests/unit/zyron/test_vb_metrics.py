"""Prometheus text rendering."""

from __future__ import annotations

from visual_brain.metrics import Family, RequestMetrics, render


def test_family_rendering_and_label_escaping() -> None:
    text = render(
        [
            Family("x_total", "counter", "Things.").add(3, kind='a"b\\c'),
            Family("y", "gauge", "Y.").add(0.5),
        ]
    )
    assert text == (
        "# HELP x_total Things.\n# TYPE x_total counter\n"
        'x_total{kind="a\\"b\\\\c"} 3\n'
        "# HELP y Y.\n# TYPE y gauge\ny 0.5\n"
    )


def test_request_metrics() -> None:
    metrics = RequestMetrics()
    metrics.observe("GET", "/v1/jobs/{job_id}", 200, 0.25)
    metrics.observe("GET", "/v1/jobs/{job_id}", 404, 0.5)
    text = render(metrics.families())
    assert (
        'visual_brain_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"} 1'
        in text
    )
    assert (
        'visual_brain_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1'
        in text
    )
    assert (
        'visual_brain_http_request_duration_seconds_sum{method="GET",route="/v1/jobs/{job_id}"} 0.75'
        in text
    )
    assert (
        'visual_brain_http_request_duration_seconds_count{method="GET",route="/v1/jobs/{job_id}"} 2'
        in text
    )
