"""Serving-engine integrations: vLLM (`constrain.integrations.vllm`, a logits processor; and the
experimental structured-output backend `constrain.integrations.vllm_backend`) and SGLang
(`constrain.integrations.sglang`). Per-request specs are parsed by `constrain.integrations.spec`.
Nothing here imports vLLM or SGLang until its module is imported."""
