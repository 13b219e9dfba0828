"""Hostile input: never an image, JSON only, bounded; nothing of a refused request is kept."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.intake.conftest import World, sexto_report

# A few synthetic bytes with image file signatures: no picture anywhere.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(16)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(16)
HEIC = b"\x00\x00\x00\x18ftypheic" + bytes(16)
PNG_B64 = base64.b64encode(PNG).decode()
LONG_B64 = base64.b64encode(bytes(range(256)) * 2).decode()


def stored_cases(world: World) -> int:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]

    async def count() -> int:
        async with runtime.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM intake.idempotency_keys"))

    return int(world.client.portal.call(count))  # type: ignore[union-attr]


@pytest.mark.parametrize(("body", "content_type"), [
    (PNG, "image/png"), (JPEG, "application/json"), (HEIC, "application/octet-stream"),
    (PNG, "text/plain"),
])  # fmt: skip
def test_raw_image_bytes_are_refused(world: World, body: bytes, content_type: str) -> None:
    before = stored_cases(world)
    headers = {**world.headers(), "Idempotency-Key": uuid.uuid4().hex,
               "Content-Type": content_type}  # fmt: skip

    response = world.client.post("/v1/cases", content=body, headers=headers)

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert stored_cases(world) == before


def test_a_raw_image_with_an_image_type_says_images_are_never_sent(world: World) -> None:
    headers = {**world.headers(), "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "image/jpeg"}

    problem = world.client.post("/v1/cases", content=JPEG, headers=headers).json()

    assert problem["type"].endswith("/images-refused")
    assert "describe the content in words" in problem["detail"]


def test_a_multipart_upload_is_refused(world: World) -> None:
    headers = {**world.headers(), "Idempotency-Key": uuid.uuid4().hex}

    response = world.client.post(
        "/v1/cases", files={"photo": ("photo.png", PNG, "image/png")}, headers=headers
    )

    assert response.status_code == 415
    assert response.json()["type"].endswith("/images-refused")


TEXT_FIELDS: list[tuple[str | int, ...]] = [
    ("summary",), ("school_id",), ("students", 0, "name"), ("students", 1, "grade"),
    ("students", 2, "student_ref"),
]  # fmt: skip


def with_value(world: World, path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    body: dict[str, Any] = sexto_report(world.school)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("payload", [
    PNG_B64, f"see {PNG_B64}", LONG_B64, "data:image/png;base64,iVBORw0KGgo=",
    "DATA:image/jpeg;base64,/9j/4AAQ", "text with a \x00 byte",
])  # fmt: skip
def test_encoded_images_in_any_text_field_are_refused(
    world: World, field: tuple[str | int, ...], payload: str
) -> None:
    before = stored_cases(world)
    body = with_value(world, field, payload)

    response = world.report(body)

    assert response.status_code == 422, (field, payload[:20])
    problem = response.json()
    assert problem["type"].endswith("/images-refused")
    assert "must never be sent" in problem["detail"]
    assert payload[:12] not in response.text
    assert stored_cases(world) == before


def test_words_that_mention_data_and_images_pass(world: World) -> None:
    body = sexto_report(
        world.school,
        summary="The student said the image data: was shared twice; nobody viewed the photo.",
    )

    assert world.report(body).status_code == 201


def test_a_body_over_64_kib_is_a_413(world: World) -> None:
    body = sexto_report(world.school, summary="word " * 14000)

    response = world.report(body)

    assert response.status_code == 413
    assert response.json()["type"].endswith("/too-large")


def test_a_non_json_body_is_a_415(world: World) -> None:
    headers = {**world.headers(), "Idempotency-Key": "k" * 10, "Content-Type": "text/plain"}

    response = world.client.post("/v1/cases", content=b"protocol=sexto-qc", headers=headers)

    assert response.status_code == 415
    assert response.json()["type"].endswith("/json-only")


def test_malformed_json_is_a_400(world: World) -> None:
    headers = {**world.headers(), "Idempotency-Key": "k" * 10, "Content-Type": "application/json"}

    response = world.client.post("/v1/cases", content=b'{"protocol": ', headers=headers)

    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")


def test_a_refused_request_leaves_no_trace_in_the_logs(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    body = with_value(world, ("students", 0, "name"), f"Zéphyrine {PNG_B64}")

    assert world.report(body).status_code == 422

    out, err = capfd.readouterr()
    assert PNG_B64[:16] not in out + err
    assert "Zéphyrine" not in out + err


@pytest.mark.parametrize(
    "split",
    [
        " ".join(PNG_B64[i : i + 15] for i in range(0, len(PNG_B64), 15)),
        "x" + PNG_B64,
        "xy" + PNG_B64,
        "\n".join(LONG_B64[i : i + 76] for i in range(0, len(LONG_B64), 76)),
        "photo: " + base64.b64encode(b"\x00" + JPEG).decode(),
        " ".join(base64.b64encode(b"zz" + HEIC).decode()),
    ],
    ids=["split-in-15s", "one-char-prefix", "two-char-prefix", "mime-lines", "offset-jpeg",
         "spaced-heic"],
)  # fmt: skip
def test_split_or_shifted_encodings_are_refused_too(world: World, split: str) -> None:
    response = world.report(with_value(world, ("summary",), split))

    assert response.status_code == 422, split[:30]
    assert response.json()["type"].endswith("/images-refused")


@pytest.mark.parametrize(
    "words",
    [
        "Les élèves ont partagé une photo dans le groupe de la classe de secondaire 3.",
        "Case reference ABC-2026-00042; contact the school office before 15:30.",
        "The message said: 'send it or else'. She refused and told her teacher.",
    ],
)
def test_ordinary_words_pass_the_filters(world: World, words: str) -> None:
    assert world.report(with_value(world, ("summary",), words)).status_code == 201


def stream_last_seq(world: World) -> int:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]

    async def last() -> int:
        info = await runtime.nc.jetstream().stream_info("CASES")
        return int(info.state.last_seq)

    return int(world.client.portal.call(last))  # type: ignore[union-attr]


# The evasions that main accepted before the filter looked at content (issue 15).
EVASIONS = {
    "percent-encoded": "".join(f"%{b:02X}" for b in PNG),
    "data-uri-untyped": "data:," + "".join(f"%{b:02X}" for b in JPEG),
    "hex-spaced": " ".join(f"{b:02x}" for b in PNG),
    "base64-split-by-dots": ".".join(PNG_B64[i : i + 3] for i in range(0, len(PNG_B64), 3)),
    "jpeg-as-latin-1": "ÿØÿà JFIF photo",
    "html-entities": "".join(f"&#{b};" for b in PNG),
    "base32": base64.b32encode(HEIC).decode(),
}


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("evasion", sorted(EVASIONS))
def test_evasions_are_refused_and_nothing_is_stored(
    world: World, field: tuple[str | int, ...], evasion: str
) -> None:
    before = (stored_cases(world), stream_last_seq(world))

    response = world.report(with_value(world, field, EVASIONS[evasion]))

    assert response.status_code == 422, (field, evasion, response.text)
    assert response.json()["type"].endswith("/images-refused")
    assert (stored_cases(world), stream_last_seq(world)) == before


def test_an_image_in_a_header_or_a_query_value_is_refused(world: World) -> None:
    before = (stored_cases(world), stream_last_seq(world))

    in_key = world.report(sexto_report(world.school), key=PNG_B64)
    in_query = world.client.get(
        "/v1/cases", params={"school": EVASIONS["hex-spaced"]}, headers=world.headers()
    )

    for response, where in ((in_key, "header idempotency-key"), (in_query, "query school")):
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("/images-refused")
        assert where in response.json()["detail"]
    assert (stored_cases(world), stream_last_seq(world)) == before


def test_a_value_the_event_refuses_is_a_422_naming_it_never_a_500(world: World) -> None:
    case_id = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(case_id)

    step = world.client.post(f"/v1/cases/{case_id}/checklist/0", json={}, headers=world.headers())

    assert step.status_code == 422, step.text
    assert step.json()["type"].endswith("/invalid-request")
    assert [e["location"] for e in step.json()["errors"]] == ["path.step_id"]
