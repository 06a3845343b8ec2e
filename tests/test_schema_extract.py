"""`extract` end to end with SmolLM2-135M (small model: the output must be valid, not right)."""

from __future__ import annotations

import pytest

import constrain as cn
from constrain.extract import extract, extract_with_raw
from constrain.schema import IncompleteOutput, JsonSchema

pydantic = pytest.importorskip("pydantic")
from pydantic import BaseModel, Field  # noqa: E402


class Person(BaseModel):
    name: str = Field(max_length=12)
    age: int = Field(ge=0, le=120)


def test_extract_smollm2(smollm2_model, smollm2_tokenizer):
    batch = extract_with_raw(smollm2_model, smollm2_tokenizer, ["Alice is 31 years old.", "Bob, 7."],
                             Person, max_new_tokens=40)
    assert len(batch) == 2
    for obj, text, ids in batch:
        assert isinstance(obj, Person) and Person.model_validate_json(text) == obj and ids
    assert extract  # the plain form returns only the objects (same code path)


def test_extract_truncation(smollm2_model, smollm2_tokenizer):
    with pytest.raises(IncompleteOutput) as ei:
        extract(smollm2_model, smollm2_tokenizer, "Alice is 31 years old.", Person, max_new_tokens=3)
    assert ei.value.text.startswith("{")


def test_extract_refuses_before_generation(smollm2_model, smollm2_tokenizer):
    with pytest.raises(cn.UnsupportedFeature):
        extract(smollm2_model, smollm2_tokenizer, "x", {"type": "array", "uniqueItems": True})
    assert JsonSchema(Person).model is Person
