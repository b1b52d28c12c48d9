"""Text: chunking a streamed reply, speech text, word error rate."""
