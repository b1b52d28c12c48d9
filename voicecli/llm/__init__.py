"""Streaming token sources, one module per backend: the local llama.cpp model (``local``), an
OpenAI-compatible server (``openai``), a recorded trace (``replay``, with the recording wrapper).
Each implements ``voicecli.engine.types.LLM`` (``base.LLMBase`` holds the capability defaults);
``markup`` turns a model's own tool-call markup into ``ToolCall``s."""
