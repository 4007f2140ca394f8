"""New versions without a shell: documents uploaded over HTTP, and the gated builds they start in the background.

Owns where an upload may land in the corpus folder and checking it as the build would (`files`), the queue of build
jobs in the state database (`jobs`: queued, building with its stage and progress, gate failed, live, failed; a lease
row so that one replica runs a given build) and the thread that runs them one at a time through `rag.pipeline.rebuild`
(`worker`). Leaves HTTP to `server/` and the build, gate and promotion themselves to `rag.pipeline`.
"""
