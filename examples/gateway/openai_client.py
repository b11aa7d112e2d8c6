"""The official OpenAI Python client, unmodified, against the gateway.

    python examples/gateway/openai_client.py http://127.0.0.1:8080/v1

Makes one chat completion, one streamed chat completion, models.list(),
models.retrieve(), and checks the answers and the errors of an unknown
model and an unknown route. Exits 0 when all of them pass. Run by
examples/gateway/check-openai-client.sh against `--local`.

The client's own retries are off (max_retries=0), so that a gateway 5xx
fails here instead of being hidden by the SDK's retries; with --local,
gpt-4o's chain ends at a healthy provider, so the gateway answers every
call itself.
"""

import sys

from openai import OpenAI


def main() -> int:
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/v1"
    # Any key: the gateway never sends the caller's key upstream.
    client = OpenAI(base_url=base_url, api_key="anything", timeout=60.0, max_retries=0)
    messages = [{"role": "user", "content": "Say hello."}]

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    completion = raw.parse()
    content = completion.choices[0].message.content
    assert content, "empty completion"
    assert content.startswith("hello from "), content
    print(f"chat.completions.create: {content!r} (x-served-by: {raw.headers.get('x-served-by')})")

    pieces = []
    finished = None
    stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta.content
            if delta:
                pieces.append(delta)
            finished = chunk.choices[0].finish_reason or finished
    streamed = "".join(pieces)
    assert streamed.startswith("hello from "), streamed
    assert finished == "stop", f"the stream did not end: finish_reason={finished!r}"
    print(f"chat.completions.create(stream=True): {streamed!r} in {len(pieces)} pieces")

    ids = sorted(model.id for model in client.models.list())
    assert "gpt-4o" in ids, ids
    print(f"models.list: {ids}")

    model = client.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o", model
    print(f"models.retrieve: {model.id} (owned by {model.owned_by})")

    # An unknown model is OpenAI's 404, which the client raises as NotFoundError.
    try:
        client.chat.completions.create(model="no-such-model", messages=messages)
    except Exception as error:  # noqa: BLE001 - the class is what is checked
        assert type(error).__name__ == "NotFoundError", repr(error)
        print(f"unknown model: {type(error).__name__} ({error.code if hasattr(error, 'code') else ''})")
    else:
        raise AssertionError("an unknown model was answered")

    # A route the gateway does not have is OpenAI's 404 too, in its shape.
    try:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    except Exception as error:  # noqa: BLE001 - the class is what is checked
        assert type(error).__name__ == "NotFoundError", repr(error)
        assert getattr(error, "code", None) == "unknown_url", repr(error)
        print(f"unknown route: {type(error).__name__} ({error.code})")
    else:
        raise AssertionError("an unknown route was answered")

    print("ok: the official OpenAI client works against the gateway")
    return 0


if __name__ == "__main__":
    sys.exit(main())
