"""Content-level capabilities: content in, result out.

Why apart from jobs: the job pipeline, the OpenAI-compatible facade and the video path all judge
the same kinds of content. These functions take the content (text, image bytes, audio bytes),
the provider and, for moderation, the policy, and know nothing of jobs, Redis or Celery; the job
steps (`mmservice.steps`) are thin adapters around them.
"""
