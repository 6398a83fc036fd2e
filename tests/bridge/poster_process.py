"""The bridge's Sage poster as its own process, so a test can kill it mid-posting.

Arguments: the database URL and a JSON file holding the `[sage]` settings. It plans and posts
one pass, exactly as the running bridge does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cloud_bridge.db import make_engine, session_factory
from cloud_bridge.posting.service import PostingService
from cloud_bridge.posting.settings import SageSettings


async def main(url: str, settings: SageSettings) -> None:
    engine = make_engine(url)
    async with PostingService(session_factory(engine), settings) as service:
        result = await service.run_pass()
    print(f"posted {len(result.sent.posted)}", flush=True)
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], SageSettings.model_validate_json(Path(sys.argv[2]).read_text())))
