"""The backend's client of Visual Brain: submit, status, cancel, result, readiness."""

from __future__ import annotations

from typing import Any

import httpx


class VisualBrainError(Exception):
    """Visual Brain answered with an error, or could not be reached (``status`` 503)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class VisualBrainClient:
    def __init__(self, base_url: str, timeout_s: float, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, headers=headers)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise VisualBrainError(
                503, f"Visual Brain is unreachable at {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise VisualBrainError(response.status_code, _detail(response))
        return response

    async def submit(
        self, kind: str, filename: str, data: bytes, content_type: str, params: str | None
    ) -> dict[str, Any]:
        form = {"kind": kind}
        if params is not None:
            form["params"] = params
        response = await self._request(
            "POST", "/v1/jobs", data=form, files={"file": (filename, data, content_type)}
        )
        body: dict[str, Any] = response.json()
        return body

    async def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self._request("GET", f"/v1/jobs/{job_id}")).json()
        return body

    async def cancel(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self._request("DELETE", f"/v1/jobs/{job_id}")).json()
        return body

    async def result(self, job_id: str) -> httpx.Response:
        return await self._request("GET", f"/v1/jobs/{job_id}/result")

    async def ready(self) -> dict[str, Any]:
        """Visual Brain's readiness body (its Redis and worker checks), even when 503."""
        try:
            response = await self.http.get("/health/ready", timeout=3.0)
        except httpx.HTTPError as exc:
            raise VisualBrainError(
                503, f"Visual Brain is unreachable at {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise VisualBrainError(
                502, f"Visual Brain answered {response.status_code} without JSON"
            ) from exc
        body["http_status"] = response.status_code
        return body


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"Visual Brain answered {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    return f"Visual Brain answered {response.status_code}: {detail if detail is not None else body}"
